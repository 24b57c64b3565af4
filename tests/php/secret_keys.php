<?php
/**
 * Asks the hook file's own functions about key names, for tests/php/test_secret_keys.py.
 *
 *   php tests/php/secret_keys.php keys.json
 *
 * keys.json is a JSON list of key names. Prints JSON:
 *   normalised {key: normalise_key(key)}, secret {key: is_secret_key(key)},
 *   forwarded: the keys filter_fields() keeps from {key: "v"} when every key is allow-listed,
 *   allow_listed_secrets: keys of the real allow-lists (at any depth) that is_secret_key refuses.
 */

define('WHMCS', true);

function add_hook($hookName, $priority, $function)
{
}

function logActivity($description, $userId = 0)
{
}

include getenv('WHMCS_HARNESS_HOOK_FILE') ?: dirname(__DIR__, 2) . '/whmcs/includes/hooks/whatsapp_bridge.php';

$keys = json_decode((string) file_get_contents($argv[1]), true);
$normalised = [];
$secret = [];
foreach ($keys as $key) {
    $normalised[$key] = WhatsAppBridge\normalise_key($key);
    $secret[$key] = WhatsAppBridge\is_secret_key($key);
}
$everything = array_fill_keys($keys, 'v');
$forwarded = array_keys(WhatsAppBridge\filter_fields($everything, array_fill_keys($keys, true)));

$allow_listed_secrets = [];
$walk = function (array $spec) use (&$walk, &$allow_listed_secrets) {
    foreach ($spec as $key => $rule) {
        if (WhatsAppBridge\is_secret_key((string) $key)) {
            $allow_listed_secrets[] = (string) $key;
        }
        if (is_array($rule)) {
            $walk($rule);
        }
    }
};
foreach (WhatsAppBridge\allow_lists() as $spec) {
    $walk($spec);
}

echo json_encode([
    'normalised' => $normalised,
    'secret' => $secret,
    'forwarded' => $forwarded,
    'allow_listed_secrets' => array_values(array_unique($allow_listed_secrets)),
], JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES), "\n";
