<?php
/**
 * WhatsApp bridge: WHMCS hook file.
 *
 * Install: copy this file into WHMCS's includes/hooks/ folder, copy
 * whatsapp_bridge.config.php.example beside it as whatsapp_bridge.config.php
 * and fill in bridge_url and secret (the same whsec_... secret the bridge has).
 *
 * What it does: on each enabled hook it keeps an allow-list of the hook's
 * fields (no password, server credential or card data ever leaves the panel:
 * a key that names a secret is dropped even if allow-listed, see
 * is_secret_key), wraps them as {"event": "<HookName>", "params": {...}} and
 * POSTs that to <bridge_url>/webhooks/whmcs, signed per Standard Webhooks
 * (webhook-id / webhook-timestamp / webhook-signature).
 *
 * It never breaks or slows the panel: one HTTP attempt of at most timeout_ms
 * (capped at 2000 ms) per event, every error caught and written to the
 * Activity Log. An event the bridge did not take is kept in a spool folder
 * and resent, with the same webhook-id, on the next cron run (AfterCronJob)
 * or the next event; the OUTCOME_* constants and flush_spool() below say
 * what happens on each answer.
 * Nothing is deleted that the bridge did not take: an event refused for good
 * (400, 413, 422), one that failed spool_max_attempts times, or one older
 * than spool_max_age_days goes to the rejected/ folder inside the spool
 * folder, with one Activity Log line naming the hook and the reason. Move a
 * file from rejected/ back into the spool folder to send it again.
 *
 * Two hooks answer WHMCS instead of forwarding anything (see "Card direct
 * debit" below): PreModuleSuspend stops WHMCS's automatic suspension of a
 * service whose client pays by card direct debit (Pagos360), and
 * EmailPreSend stops WHMCS's payment reminder and overdue emails of the
 * invoices the card debit pays. Both let WHMCS go on whenever they cannot
 * tell (an API error, an exception), and say so in the Activity Log.
 *
 * Requires PHP 7.4+ with the curl extension (WHMCS requires it too).
 */

namespace WhatsAppBridge;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

/* ---------------------------------------------------------------------------
 * Settings. Prefer whatsapp_bridge.config.php (an array of the same keys)
 * beside this file, so upgrading this file keeps them; environment variables
 * (see ENV_SETTINGS) win over both.
 * ------------------------------------------------------------------------- */

/** @return array<string,mixed> */
function default_settings(): array
{
    return [
        // Base URL of the bridge; events go to <bridge_url>/webhooks/whmcs.
        'bridge_url' => '',
        // Standard Webhooks secret shared with the bridge: "whsec_" + base64.
        'secret' => '',
        // Where undeliverable events wait. Keep it outside the web root if you
        // can; a .htaccess denying access is written into it anyway.
        'spool_dir' => __DIR__ . '/whatsapp_bridge_spool',
        // Hooks that are forwarded. InvoiceCreation (fires for drafts too,
        // before InvoiceCreated) is available but off by default.
        'events' => [
            'ClientAdd', 'ClientChangePassword', 'ClientEdit',
            'InvoiceCreated', 'InvoiceCancelled', 'InvoicePaid',
            'AfterModuleSuspend', 'AfterModuleUnsuspend', 'AfterModuleTerminate',
            'QuoteCreated', 'DomainDelete', 'TicketAdminReply',
            'TicketOpen', 'TicketUserReply', 'OrderPaid', 'CancelOrder',
            'AfterModuleCreate', 'AfterModuleCreateFailed', 'AcceptQuote',
            'QuoteStatusChange', 'CancellationRequest', 'UserChangePassword',
            'InvoicePaymentReminder',
        ],
        // Whole HTTP request, connect included. Capped at 2000.
        'timeout_ms' => 2000,
        'connect_timeout_ms' => 1000,
        // After a failed delivery, panel requests only spool (no network)
        // for this many seconds; the cron run always tries.
        'retry_backoff_s' => 30,
        // Bounded work per flush: files per call, and time for a cron flush
        // (a flush during a panel request gets timeout_ms in all).
        'flush_max_files' => 50,
        'cron_flush_budget_ms' => 10000,
        // Each spooled event has its own retries: after a failed try (the
        // bridge answered 5xx or another unexpected status, or did not answer
        // in time) it waits spool_backoff_base_s * 2^(tries - 1) seconds, at
        // most spool_backoff_max_s, while the events behind it go on; after
        // spool_max_attempts failed tries it moves to rejected/. With the
        // defaults that is about 9 hours of failures (WHMCS's cron runs
        // every 5 minutes).
        'spool_max_attempts' => 10,
        'spool_backoff_base_s' => 60,
        'spool_backoff_max_s' => 21600,
        // Disk guard and age limit of spooled events (older: to rejected/).
        'spool_max_files' => 5000,
        'spool_max_age_days' => 7,
        // Client custom field ids that may be forwarded (e.g. a WhatsApp
        // opt-in checkbox). Every other custom field stays in the panel.
        'forward_custom_fields' => [],
        // Card direct debit (Pagos360). The client group of the clients who
        // pay by card direct debit ("Adherido al débito automático", the
        // bridge's PAGOS360_CLIENT_GROUP_ID); 0 = none.
        'debit_group_id' => 0,
        // The gateway module (system) name of Pagos360 in WHMCS (the bridge's
        // PAGOS360_WHMCS_GATEWAY).
        'pagos360_gateway' => 'pagos360',
        // PreModuleSuspend: stop the suspension of a service whose client is
        // in debit_group_id (hooked only when this is on and the group is set).
        'never_suspend_debit_clients' => true,
        // ... except a staff member's own suspension, by hand in the admin area.
        'let_staff_suspend' => true,
        // EmailPreSend: stop the reminder_templates emails of an invoice paid
        // through pagos360_gateway or of a client in debit_group_id, unless
        // its card debit was rejected (DEBIT_REJECTED_MARKER in its notes).
        'abort_reminder_emails' => true,
        'reminder_templates' => [
            'Invoice Payment Reminder', 'First Invoice Overdue Notice',
            'Second Invoice Overdue Notice', 'Third Invoice Overdue Notice',
        ],
        // Admin username for localAPI; only needed on WHMCS older than 7.2.
        'localapi_admin' => '',
        'hook_priority' => 1,
    ];
}

/** Environment variable => setting. Lists are comma separated; on/off see BOOL_SETTINGS. */
const ENV_SETTINGS = [
    'WHATSAPP_BRIDGE_URL' => 'bridge_url',
    'WHATSAPP_BRIDGE_SECRET' => 'secret',
    'WHATSAPP_BRIDGE_SPOOL_DIR' => 'spool_dir',
    'WHATSAPP_BRIDGE_EVENTS' => 'events',
    'WHATSAPP_BRIDGE_TIMEOUT_MS' => 'timeout_ms',
    'WHATSAPP_BRIDGE_RETRY_BACKOFF_S' => 'retry_backoff_s',
    'WHATSAPP_BRIDGE_FLUSH_MAX_FILES' => 'flush_max_files',
    'WHATSAPP_BRIDGE_SPOOL_MAX_ATTEMPTS' => 'spool_max_attempts',
    'WHATSAPP_BRIDGE_SPOOL_BACKOFF_BASE_S' => 'spool_backoff_base_s',
    'WHATSAPP_BRIDGE_SPOOL_BACKOFF_MAX_S' => 'spool_backoff_max_s',
    'WHATSAPP_BRIDGE_DEBIT_GROUP_ID' => 'debit_group_id',
    'WHATSAPP_BRIDGE_PAGOS360_GATEWAY' => 'pagos360_gateway',
    'WHATSAPP_BRIDGE_NEVER_SUSPEND' => 'never_suspend_debit_clients',
    'WHATSAPP_BRIDGE_LET_STAFF_SUSPEND' => 'let_staff_suspend',
    'WHATSAPP_BRIDGE_ABORT_REMINDER_EMAILS' => 'abort_reminder_emails',
    'WHATSAPP_BRIDGE_REMINDER_TEMPLATES' => 'reminder_templates',
];

/** On/off settings: true, false, or (from a file or the environment) 1/true/on/yes, 0/false/off/no. */
const BOOL_SETTINGS = ['never_suspend_debit_clients', 'let_staff_suspend', 'abort_reminder_emails'];

const JSON_FLAGS = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES
    | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR;

const ENDPOINT_PATH = '/webhooks/whmcs';
const LOG_PREFIX = 'WhatsApp Bridge: ';

/* ---------------------------------------------------------------------------
 * Allow-lists. true = keep a scalar value; array = keep a nested array,
 * filtered by that list. Anything not named here is never sent.
 * ------------------------------------------------------------------------- */

/** @return array<string,array<string,mixed>> */
function allow_lists(): array
{
    static $lists = null;
    if ($lists !== null) {
        return $lists;
    }
    $keys = function (array $names): array {
        return array_fill_keys($names, true);
    };
    $client = $keys([
        'userid', 'client_id', 'user_id', 'firstname', 'lastname', 'companyname',
        'email', 'phonenumber', 'phonecc', 'country', 'countrycode', 'language',
        'status', 'groupid', 'currency',
    ]);
    $invoice = $keys([
        'invoiceid', 'invoicenum', 'userid', 'status', 'source', 'user',
        'total', 'duedate', 'paymentmethod',
    ]);
    $service = $keys([
        'serviceid', 'accountid', 'userid', 'pid', 'domain', 'producttype',
        'moduletype', 'suspendreason', 'status', 'productname', 'groupname',
    ]);
    $service['clientsdetails'] = $keys([
        'userid', 'id', 'firstname', 'lastname', 'companyname', 'email',
        'phonenumber', 'phonecc', 'countrycode', 'country', 'language',
        'groupid', 'status',
    ]);
    // AfterModule* hooks get the module parameters under "params"; the same
    // list is applied at the top level too, for versions that flatten them.
    $module = $service + ['params' => $service];

    $lists = [
        'ClientAdd' => $client + $keys(['emailoptout', 'marketing_emails_opt_in']),
        'ClientChangePassword' => $keys(['userid', 'user_id', 'client_id']),
        'ClientEdit' => $client + $keys(['email_verified']) + ['olddata' => $client],
        'InvoiceCreation' => $invoice,
        'InvoiceCreated' => $invoice,
        'InvoiceCancelled' => $invoice,
        'InvoicePaid' => $invoice,
        'AfterModuleSuspend' => $module,
        'AfterModuleUnsuspend' => $module,
        'AfterModuleTerminate' => $module,
        'QuoteCreated' => $keys([
            'quoteid', 'userid', 'status', 'stage', 'subject', 'total', 'validuntil',
        ]),
        'DomainDelete' => $keys(['domainid', 'userid', 'domain']),
        // A staff answer: its text goes back to a customer who wrote on WhatsApp.
        'TicketAdminReply' => $keys([
            'ticketid', 'replyid', 'deptid', 'deptname', 'subject', 'message', 'priority', 'admin', 'status',
        ]),
        // A customer's own ticket and replies: the staff hear of them, the
        // customer gets an acknowledgement (status: after the reply).
        'TicketOpen' => $keys([
            'ticketid', 'ticketmask', 'userid', 'deptid', 'deptname', 'subject', 'message', 'priority',
        ]),
        'TicketUserReply' => $keys([
            'ticketid', 'replyid', 'userid', 'deptid', 'deptname', 'subject', 'message', 'priority', 'status',
        ]),
        // Only ids: the rest is read back from the API. OrderPaid's keys are
        // camelCase, as WHMCS sends them.
        'OrderPaid' => $keys(['orderId', 'userId', 'invoiceId']),
        'CancelOrder' => $keys(['orderid']),
        // Same module parameters as the other AfterModule* hooks; a failed
        // create also says why (the module's own error text, for the staff).
        'AfterModuleCreate' => $module,
        'AfterModuleCreateFailed' => $module + $keys(['failureResponseMessage']),
        'AcceptQuote' => $keys(['quoteid', 'invoiceid']),
        'QuoteStatusChange' => $keys(['quoteid', 'status']),
        // relid is the service id; reason is the customer's own words.
        'CancellationRequest' => $keys(['userid', 'relid', 'reason', 'type']),
        // userid is the User id (not a client id); the new password stays here.
        'UserChangePassword' => $keys(['userid']),
        // The daily cron's reminder or overdue notice of an invoice; type is
        // reminder, firstoverdue, secondoverdue or thirdoverdue (the rest is
        // read back from the API).
        'InvoicePaymentReminder' => $keys(['invoiceid', 'type']),
    ];
    return $lists;
}

/** Hooks whose client custom fields may be forwarded (by id, see settings). */
const CUSTOM_FIELD_HOOKS = ['ClientAdd', 'ClientEdit'];

/* ---------------------------------------------------------------------------
 * Secret key names. A second line behind the allow-lists: a key that names a
 * secret is never sent, even if an allow-list names it. The same rule as the
 * bridge's bridge/core/secret_keys.py (keep the two identical): the key is split
 * into lowercase words (separators, camelCase, digits after letters), and it
 * is secret when it ends with a secret term, then optionally a qualifier
 * (confirm, again, hash, ...) and a number. Long terms count glued to the
 * word before them, as WHMCS writes its keys (serverpassword, oldpassword,
 * securityqans, transfersecret); short ones (pass, pw, pwd, pin) only as a
 * whole word or after new/old/existing/current/confirm (newpw, existingpw),
 * so that passport, compass, password_hint, tokenizer and gravatarHash stay.
 * ------------------------------------------------------------------------- */

const SECRET_LONG_TERMS = 'password|passwd|passphrase|secret|token|credential'
    . '|access_?hash|access_?key|api_?key|private_?key'
    . '|security_?(?:q(?:uestion)?_?)?ans(?:wer)?'
    . '|card_?num(?:ber)?|cc_?num(?:ber)?|card_?issue_?num(?:ber)?|cvv|cvc'
    . '|bank_?acc(?:oun)?t|bank_?code|server_?user_?name';
const SECRET_SHORT_TERMS = 'pass|pwd?|pin';
const SECRET_QUALIFIERS = 'confirm(?:ation)?|again|repeat|retype|verify|hash|new|old';
const SECRET_NAME = '/(?:(?:' . SECRET_LONG_TERMS . ')s?|(?:^|_|new|old|existing|current|confirm)(?:'
    . SECRET_SHORT_TERMS . '))(?:_?(?:' . SECRET_QUALIFIERS . '))?(?:_[0-9]+)?$/';

/** "clientSecret" => "client_secret", "newpassword2" => "newpassword_2". */
function normalise_key(string $key): string
{
    $spaced = (string) preg_replace('/(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])/', '_', $key);
    $spaced = (string) preg_replace('/(?<=[A-Za-z])(?=[0-9])/', '_', $spaced);
    // ASCII only, whatever the locale (strtolower follows it on PHP 7).
    $lower = strtr($spaced, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
    return trim((string) preg_replace('/[^a-z0-9]+/', '_', $lower), '_');
}

/** True when a value under $key is a credential, card or bank number. */
function is_secret_key(string $key): bool
{
    return preg_match(SECRET_NAME, normalise_key($key)) === 1;
}

/* ---------------------------------------------------------------------------
 * Settings loading
 * ------------------------------------------------------------------------- */

/** @return string|false */
function env(string $name)
{
    return function_exists('getenv') ? getenv($name) : false;
}

/** @return array<string,mixed> */
function settings(): array
{
    static $settings = null;
    if ($settings !== null) {
        return $settings;
    }
    $s = default_settings();

    $env_file = env('WHATSAPP_BRIDGE_CONFIG');
    $file = ($env_file !== false && $env_file !== '')
        ? $env_file : __DIR__ . '/whatsapp_bridge.config.php';
    if (is_file($file)) {
        $loaded = include $file;
        if (is_array($loaded)) {
            $s = array_replace($s, $loaded);
        } else {
            log_activity("config file {$file} does not return an array; ignored");
        }
    }

    foreach (ENV_SETTINGS as $var => $key) {
        $value = env($var);
        if ($value === false || $value === '') {
            continue;
        }
        $s[$key] = is_array($s[$key])
            ? array_values(array_filter(array_map('trim', explode(',', $value)), 'strlen'))
            : $value;
    }

    if (!is_array($s['events'])) {
        $s['events'] = array_map('trim', explode(',', (string) $s['events']));
    }
    $s['bridge_url'] = trim((string) $s['bridge_url']);
    $s['secret'] = trim((string) $s['secret']);
    $s['spool_dir'] = rtrim((string) $s['spool_dir'], '/\\');
    $s['timeout_ms'] = max(100, min(2000, (int) $s['timeout_ms']));
    $s['connect_timeout_ms'] = max(50, min($s['timeout_ms'], (int) $s['connect_timeout_ms']));
    foreach (['retry_backoff_s', 'flush_max_files', 'cron_flush_budget_ms',
              'spool_backoff_base_s', 'spool_backoff_max_s',
              'spool_max_files', 'spool_max_age_days', 'hook_priority'] as $int_key) {
        $s[$int_key] = max(0, (int) $s[$int_key]);
    }
    $s['spool_max_attempts'] = max(1, (int) $s['spool_max_attempts']);
    $s['forward_custom_fields'] = array_map('strval', (array) $s['forward_custom_fields']);
    $s['debit_group_id'] = max(0, (int) $s['debit_group_id']);
    $s['pagos360_gateway'] = trim((string) $s['pagos360_gateway']);
    if (!is_array($s['reminder_templates'])) {
        $s['reminder_templates'] = explode(',', (string) $s['reminder_templates']);
    }
    $s['reminder_templates'] = array_values(array_filter(array_map(function ($name): string {
        return is_scalar($name) ? trim((string) $name) : '';
    }, $s['reminder_templates']), 'strlen'));
    $defaults = default_settings();
    foreach (BOOL_SETTINGS as $bool_key) {
        $bool = parse_bool($s[$bool_key]);
        if ($bool === null) {
            $shown = is_scalar($s[$bool_key]) ? "'" . $s[$bool_key] . "'" : gettype($s[$bool_key]);
            $bool = (bool) $defaults[$bool_key];
            log_activity("setting {$bool_key}: {$shown} is not one of 1/true/on/yes or 0/false/off/no;"
                . ' its default (' . ($bool ? 'on' : 'off') . ') applies');
        }
        $s[$bool_key] = $bool;
    }

    $settings = $s;
    return $settings;
}

/**
 * An on/off value: a bool, 1 or 0, or "1/true/on/yes" / "0/false/off/no" in
 * any case; null for anything else.
 *
 * @param mixed $value
 */
function parse_bool($value): ?bool
{
    if (is_bool($value)) {
        return $value;
    }
    if (is_int($value) && ($value === 0 || $value === 1)) {
        return $value === 1;
    }
    if (is_string($value)) {
        $word = strtolower(trim($value));
        if (in_array($word, ['1', 'true', 'on', 'yes'], true)) {
            return true;
        }
        if (in_array($word, ['0', 'false', 'off', 'no'], true)) {
            return false;
        }
    }
    return null;
}

/** Why the settings cannot be used, or '' when they can. */
function config_problem(array $s): string
{
    $scheme = strtolower((string) parse_url($s['bridge_url'], PHP_URL_SCHEME));
    if ($s['bridge_url'] === '' || !in_array($scheme, ['http', 'https'], true)) {
        return 'bridge_url is not set to an http(s) URL';
    }
    if (signing_key($s['secret']) === '') {
        return 'secret is not a whsec_... base64 value';
    }
    return '';
}

function signing_key(string $secret): string
{
    if (strpos($secret, 'whsec_') === 0) {
        $secret = substr($secret, 6);
    }
    $key = base64_decode($secret, true);
    return $key === false ? '' : $key;
}

function endpoint(string $bridge_url): string
{
    $url = rtrim($bridge_url, '/');
    if (substr($url, -strlen(ENDPOINT_PATH)) === ENDPOINT_PATH) {
        return $url;
    }
    return $url . ENDPOINT_PATH;
}

/* ---------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------- */

function log_activity(string $message): void
{
    try {
        if (function_exists('logActivity')) {
            \logActivity(LOG_PREFIX . $message);
        } else {
            error_log(LOG_PREFIX . $message);
        }
    } catch (\Throwable $e) {
        // Logging must never be the thing that breaks the panel.
    }
}

function now_ms(): float
{
    return microtime(true) * 1000.0;
}

/**
 * Keep only the allowed keys of $data, recursively.
 *
 * @param mixed $data
 * @return array<string,mixed>
 */
function filter_fields($data, array $spec): array
{
    $out = [];
    if (!is_array($data)) {
        return $out;
    }
    foreach ($spec as $key => $rule) {
        if (!array_key_exists($key, $data) || is_secret_key((string) $key)) {
            continue;
        }
        $value = $data[$key];
        if (is_array($rule)) {
            $nested = is_array($value) ? filter_fields($value, $rule) : [];
            if ($nested) {
                $out[$key] = $nested;
            }
        } elseif ($value === null || is_scalar($value)) {
            $out[$key] = $value;
        }
    }
    return $out;
}

/**
 * The configured client custom fields, as {"<id>": value}. WHMCS passes them
 * as customFields / customfields: {id: value} or [{id, value}, ...].
 *
 * @return array<string,mixed>
 */
function custom_fields(array $vars, array $ids): array
{
    $out = [];
    if (!$ids) {
        return $out;
    }
    foreach (['customFields', 'customfields'] as $key) {
        if (!isset($vars[$key]) || !is_array($vars[$key])) {
            continue;
        }
        foreach ($vars[$key] as $k => $v) {
            if (is_array($v) && isset($v['id'])) {
                $k = $v['id'];
                $v = $v['value'] ?? null;
            }
            if (in_array((string) $k, $ids, true) && ($v === null || is_scalar($v))) {
                $out[(string) $k] = $v;
            }
        }
    }
    return $out;
}

/** @return array<string,mixed> the params that may leave the panel */
function build_params(string $hook, array $vars, array $s): array
{
    $lists = allow_lists();
    $params = filter_fields($vars, $lists[$hook] ?? []);
    if (in_array($hook, CUSTOM_FIELD_HOOKS, true)) {
        $fields = custom_fields($vars, $s['forward_custom_fields']);
        if ($fields) {
            $params['customfields'] = (object) $fields; // keep ids as JSON keys
        }
    }
    return enrich($hook, $params, $s);
}

/* ---------------------------------------------------------------------------
 * Enrichment: data that is gone once the hook has run.
 * ------------------------------------------------------------------------- */

/** @return array<string,mixed>|null the first row of $result[$outer][$inner] */
function first_row($result, string $outer, string $inner): ?array
{
    if (!is_array($result) || ($result['result'] ?? '') !== 'success') {
        return null;
    }
    $rows = $result[$outer][$inner] ?? null;
    if (!is_array($rows)) {
        return null;
    }
    if (isset($rows[0]) && is_array($rows[0])) {
        return $rows[0];
    }
    return isset($rows['id']) ? $rows : null;
}

/** @return mixed */
function local_api(array $s, string $command, array $args)
{
    if (!function_exists('localAPI')) {
        throw new \RuntimeException('localAPI is not available');
    }
    return $s['localapi_admin'] !== ''
        ? \localAPI($command, $args, $s['localapi_admin'])
        : \localAPI($command, $args);
}

function api_error($result): string
{
    if (is_array($result) && isset($result['message']) && is_scalar($result['message'])) {
        return (string) $result['message'];
    }
    return 'no matching record';
}

/** @return array<string,mixed> */
function enrich(string $hook, array $params, array $s): array
{
    try {
        if ($hook === 'DomainDelete' && empty($params['domain']) && !empty($params['domainid'])) {
            $id = (int) $params['domainid'];
            $result = local_api($s, 'GetClientsDomains', ['domainid' => $id]);
            $row = first_row($result, 'domains', 'domain');
            if ($row && isset($row['domainname']) && is_scalar($row['domainname'])) {
                $params['domain'] = (string) $row['domainname'];
            } else {
                log_activity("DomainDelete: GetClientsDomains for domainid {$id} failed: " . api_error($result));
            }
        }
        if ($hook === 'AfterModuleTerminate') {
            $nested = isset($params['params']) && is_array($params['params']);
            $target = $nested ? $params['params'] : $params;
            $id = (int) ($target['serviceid'] ?? ($params['serviceid'] ?? 0));
            if ($id > 0 && empty($target['productname'])) {
                $result = local_api($s, 'GetClientsProducts', ['serviceid' => $id]);
                $row = first_row($result, 'products', 'product');
                if ($row && isset($row['name']) && is_scalar($row['name'])) {
                    $target['productname'] = (string) $row['name'];
                    if (isset($row['groupname']) && is_scalar($row['groupname'])) {
                        $target['groupname'] = (string) $row['groupname'];
                    }
                    if (empty($target['domain']) && isset($row['domain']) && is_scalar($row['domain'])) {
                        $target['domain'] = (string) $row['domain'];
                    }
                } else {
                    log_activity("AfterModuleTerminate: GetClientsProducts for serviceid {$id} failed: " . api_error($result));
                }
                if ($nested) {
                    $params['params'] = $target;
                } else {
                    $params = $target;
                }
            }
        }
    } catch (\Throwable $e) {
        log_activity("{$hook}: enrichment failed (" . get_class($e) . ': ' . $e->getMessage() . '); sending without it');
    }
    return $params;
}

/* ---------------------------------------------------------------------------
 * Sending. Every try ends in one of these outcomes, and the spool acts on it.
 * ------------------------------------------------------------------------- */

/** 2xx: the bridge has the event. */
const OUTCOME_SENT = 'sent';
/** 400, 413, 422: the bridge refuses this event's body for good (and says why). */
const OUTCOME_REFUSED = 'refused';
/**
 * 401 (the signature is refused: the secret, or this server's clock), 404 or
 * 405 (bridge_url does not lead to the bridge's webhook): a set-up problem that
 * every event meets alike. Never counted against the event; an admin fixes it.
 */
const OUTCOME_SETUP = 'setup';
/**
 * Nothing reached the bridge (connection refused, DNS, TLS, connect timeout),
 * or it says it is unavailable as a whole (429, 502, 503, 504), or this run's
 * time ran out mid-try. Not the event's fault: never counted against it.
 */
const OUTCOME_UNAVAILABLE = 'unavailable';
/**
 * Anything else: 500 and the other 5xx, 408, other 4xx, no answer within
 * timeout_ms once the event was sent. It may be this event's own fault (a
 * body the bridge cannot store answers 500 every time), so it counts against
 * the event: backoff, and rejected/ after spool_max_attempts.
 */
const OUTCOME_FAILED = 'failed';

const REFUSED_STATUSES = [400, 413, 422];
const SETUP_STATUSES = [401, 404, 405];
const UNAVAILABLE_STATUSES = [429, 502, 503, 504];
/** The bridge accepts signatures made up to 5 minutes off its clock; warn before that. */
const CLOCK_SKEW_WARN_S = 240;
/** How much of the bridge's answer is read: its refusals say why in {"error": "..."}. */
const ANSWER_MAX_BYTES = 2048;

function sign(string $key, string $id, string $timestamp, string $body): string
{
    return 'v1,' . base64_encode(hash_hmac('sha256', "{$id}.{$timestamp}.{$body}", $key, true));
}

/**
 * One signed POST of a message ({id, event, body}).
 *
 * @return array{outcome:string, detail:string, fix:string} outcome: one of the
 *   OUTCOME_* constants; detail: the status or curl error, with the bridge's
 *   own words when it gave some; fix: for OUTCOME_SETUP, what an admin must do.
 */
function send(array $s, array $msg, int $timeout_ms): array
{
    if (!function_exists('curl_init')) {
        return outcome(OUTCOME_UNAVAILABLE, 'PHP curl extension missing');
    }
    $timestamp = (string) time();
    $headers = [
        'Content-Type: application/json',
        'User-Agent: whmcs-whatsapp-bridge-hook/1.0',
        'Expect:', // no 100-continue round trip
        'webhook-id: ' . $msg['id'],
        'webhook-timestamp: ' . $timestamp,
        'webhook-signature: ' . sign(signing_key($s['secret']), $msg['id'], $timestamp, $msg['body']),
    ];
    $timeout_ms = max(1, min($s['timeout_ms'], $timeout_ms));
    $ch = curl_init(endpoint($s['bridge_url']));
    if ($ch === false) {
        return outcome(OUTCOME_UNAVAILABLE, 'curl_init failed');
    }
    $answer = '';
    $bridge_date = '';
    curl_setopt_array($ch, [
        CURLOPT_POST => true,
        CURLOPT_POSTFIELDS => $msg['body'],
        CURLOPT_HTTPHEADER => $headers,
        CURLOPT_CONNECTTIMEOUT_MS => min($s['connect_timeout_ms'], $timeout_ms),
        CURLOPT_TIMEOUT_MS => $timeout_ms,
        CURLOPT_NOSIGNAL => true, // needed for sub-second timeouts
        CURLOPT_FOLLOWLOCATION => false,
        CURLOPT_SSL_VERIFYPEER => true,
        CURLOPT_SSL_VERIFYHOST => 2,
        // Keep only the start of the answer (a refusal's reason), never buffer more.
        CURLOPT_WRITEFUNCTION => function ($handle, $chunk) use (&$answer) {
            if (strlen($answer) < ANSWER_MAX_BYTES) {
                $answer .= substr($chunk, 0, ANSWER_MAX_BYTES - strlen($answer));
            }
            return strlen($chunk);
        },
        // The bridge's Date header tells a clock problem from a secret problem on 401.
        CURLOPT_HEADERFUNCTION => function ($handle, $line) use (&$bridge_date) {
            if (stripos($line, 'date:') === 0) {
                $bridge_date = trim(substr($line, 5));
            }
            return strlen($line);
        },
    ]);
    curl_exec($ch);
    $errno = curl_errno($ch);
    $error = curl_error($ch);
    $status = (int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
    // Zero when the request never left (nothing to blame the event for).
    $sent = (int) curl_getinfo($ch, CURLINFO_REQUEST_SIZE) > 0;
    if (PHP_VERSION_ID < 80000) {
        curl_close($ch); // a no-op (deprecated in 8.5) since handles became objects
    }

    if ($errno !== 0) {
        $detail = "curl error {$errno}: {$error}";
        if (!$sent) {
            return outcome(OUTCOME_UNAVAILABLE, $detail);
        }
        if ($errno === 28 && $timeout_ms < $s['timeout_ms']) {
            // Cut short by this flush's own time budget: no verdict on the event.
            return outcome(OUTCOME_UNAVAILABLE, $detail . ' (this run had no more time)');
        }
        return outcome(OUTCOME_FAILED, $detail);
    }
    $said = bridge_said($answer);
    $detail = "HTTP {$status}" . ($said !== '' ? " \"{$said}\"" : '');
    if ($status >= 200 && $status < 300) {
        return outcome(OUTCOME_SENT, $detail);
    }
    if (in_array($status, REFUSED_STATUSES, true)) {
        return outcome(OUTCOME_REFUSED, $detail);
    }
    if ($status === 401) {
        return outcome(OUTCOME_SETUP, $detail, signature_fix($bridge_date));
    }
    if (in_array($status, SETUP_STATUSES, true)) {
        return outcome(OUTCOME_SETUP, $detail, 'check bridge_url: ' . endpoint($s['bridge_url'])
            . " is not the bridge's webhook");
    }
    if (in_array($status, UNAVAILABLE_STATUSES, true)) {
        return outcome(OUTCOME_UNAVAILABLE, $detail);
    }
    return outcome(OUTCOME_FAILED, $detail);
}

/** @return array{outcome:string, detail:string, fix:string} */
function outcome(string $outcome, string $detail, string $fix = ''): array
{
    return ['outcome' => $outcome, 'detail' => $detail, 'fix' => $fix];
}

/** The bridge's reason from a refusal ({"error": "..."}), on one line, at most 200 bytes. */
function bridge_said(string $answer): string
{
    $data = json_decode($answer, true);
    if (!is_array($data) || !isset($data['error']) || !is_string($data['error'])) {
        return '';
    }
    $text = trim((string) preg_replace('/[\x00-\x1F\x7F]+/', ' ', $data['error']));
    if (strlen($text) <= 200) {
        return $text;
    }
    return (function_exists('mb_strcut') ? mb_strcut($text, 0, 200, 'UTF-8') : substr($text, 0, 200)) . '...';
}

/** What to fix when the bridge refuses the signature (401). */
function signature_fix(string $bridge_date): string
{
    $bridge_time = $bridge_date !== '' ? strtotime($bridge_date) : false;
    if ($bridge_time !== false) {
        $skew = time() - $bridge_time;
        if (abs($skew) > CLOCK_SKEW_WARN_S) {
            return sprintf(
                "this server's clock is %d s %s the bridge's, and a signature is only accepted within"
                . ' 5 minutes of the bridge\'s time: set the clock right (NTP)',
                abs($skew),
                $skew > 0 ? 'ahead of' : 'behind'
            );
        }
    }
    return "check that 'secret' is the bridge's WHMCS_WEBHOOK_SECRET (while the bridge's secret is"
        . ' being rotated it accepts both)';
}

/* ---------------------------------------------------------------------------
 * Spool: one JSON file per event ({v, id, event, body, created_at}); the
 * signature is made at each send. A file is named
 *   <time in microseconds>-<webhook id>.json            not failed yet
 *   <time in microseconds>-<webhook id>.a<N>.t<T>.json  failed N times, next try at unix time T
 * so name order is arrival order, and a flush tells from the names alone
 * which files are due (a file waiting for its next try is never read).
 * Files that will not be sent go to rejected/ (inside the spool folder, so
 * the same protection applies), under their first name, with the reason.
 * ------------------------------------------------------------------------- */

const SPOOL_NAME = '/^(.+?)(?:\.a(\d+)\.t(\d+))?\.json$/';

function ensure_spool_dir(string $dir): bool
{
    if (!is_dir($dir)) {
        if (!@mkdir($dir, 0700, true) && !is_dir($dir)) {
            return false;
        }
        @chmod($dir, 0700);
        // In case the folder is inside the web root (the default).
        @file_put_contents($dir . '/.htaccess', "<IfModule mod_authz_core.c>\n    Require all denied\n"
            . "</IfModule>\n<IfModule !mod_authz_core.c>\n    Order deny,allow\n    Deny from all\n</IfModule>\n");
        @file_put_contents($dir . '/index.html', '');
    }
    return is_writable($dir);
}

function rejected_dir(array $s): string
{
    return $s['spool_dir'] . '/rejected';
}

/** @return string[] spooled files, oldest first */
function spool_files(string $dir): array
{
    $files = is_dir($dir) ? glob($dir . '/*.json', GLOB_NOSORT) : [];
    if (!is_array($files)) {
        return [];
    }
    sort($files, SORT_STRING);
    return $files;
}

function rejected_count(array $s): int
{
    $files = is_dir(rejected_dir($s)) ? glob(rejected_dir($s) . '/*.json', GLOB_NOSORT) : [];
    return is_array($files) ? count($files) : 0;
}

/** @return array{base:string, attempts:int, next_try:int} what a spool file's name says */
function spool_entry(string $file): array
{
    $name = basename($file);
    if (!preg_match(SPOOL_NAME, $name, $m)) {
        return ['base' => $name, 'attempts' => 0, 'next_try' => 0];
    }
    return ['base' => $m[1], 'attempts' => (int) ($m[2] ?? 0), 'next_try' => (int) ($m[3] ?? 0)];
}

function spool_name(string $base, int $attempts, int $next_try): string
{
    return $attempts > 0 ? "{$base}.a{$attempts}.t{$next_try}.json" : "{$base}.json";
}

/** Seconds before the next try of an event that failed $attempts times. */
function retry_delay(array $s, int $attempts): int
{
    $delay = $s['spool_backoff_base_s'] * (2 ** min(30, max(0, $attempts - 1)));
    return (int) min($s['spool_backoff_max_s'], $delay);
}

/** @return array<string,mixed> what a spool file holds */
function message_data(array $msg): array
{
    return [
        'v' => 1,
        'id' => $msg['id'],
        'event' => $msg['event'],
        'body' => $msg['body'],
        'created_at' => $msg['created_at'],
    ];
}

/** $data as JSON in $dir/$name, mode 0600, whole or not at all (a temporary file renamed). */
function write_file(string $dir, string $name, array $data): bool
{
    $json = json_encode($data, JSON_FLAGS);
    if (!is_string($json)) {
        return false;
    }
    $tmp = $dir . '/.tmp-' . bin2hex(random_bytes(8));
    $fh = @fopen($tmp, 'xb');
    if ($fh === false) {
        return false;
    }
    @chmod($tmp, 0600); // before any content is written
    $ok = fwrite($fh, $json) === strlen($json);
    $ok = fflush($fh) && $ok;
    fclose($fh);
    if (!$ok || !@rename($tmp, $dir . '/' . $name)) {
        @unlink($tmp);
        return false;
    }
    return true;
}

/** A new event's first name: the time in microseconds, then its id. */
function new_base(array $msg): string
{
    return str_pad(sprintf('%.0f', floor(microtime(true) * 1000000)), 17, '0', STR_PAD_LEFT) . '-' . $msg['id'];
}

/** Spool a new event; $attempts > 0 when its first try already failed. */
function spool_write(array $s, array $msg, int $attempts = 0): bool
{
    $dir = $s['spool_dir'];
    if (!ensure_spool_dir($dir)) {
        log_activity("spool folder {$dir} cannot be created or written");
        return false;
    }
    if ($s['spool_max_files'] > 0 && count(spool_files($dir)) >= $s['spool_max_files']) {
        log_activity("spool holds {$s['spool_max_files']} events already; not adding more");
        return false;
    }
    $next_try = $attempts > 0 ? time() + retry_delay($s, $attempts) : 0;
    return write_file($dir, spool_name(new_base($msg), $attempts, $next_try), message_data($msg));
}

/** Count one more failed try against a spooled event: its name takes the count and next try. */
function spool_reschedule(array $s, string $file, string $base, int $attempts): bool
{
    $next_try = time() + retry_delay($s, $attempts);
    return @rename($file, $s['spool_dir'] . '/' . spool_name($base, $attempts, $next_try));
}

/**
 * Keep an event that will not be sent in rejected/, with $why, and say so in
 * one Activity Log line. The spool file ($file, if any) is removed only once
 * the copy is written: if rejected/ cannot be written, nothing is lost.
 */
function spool_reject(array $s, array $msg, string $why, int $attempts, string $base, ?string $file): bool
{
    $dir = rejected_dir($s);
    $data = message_data($msg) + ['rejected' => ['reason' => $why, 'at' => gmdate('c'), 'attempts' => $attempts]];
    if (!ensure_spool_dir($dir) || !write_file($dir, $base . '.json', $data)) {
        log_activity("{$why}; could not be written to {$dir}");
        return false;
    }
    if ($file !== null) {
        @unlink($file);
    }
    log_activity("{$why}; moved to rejected/");
    return true;
}

/** @return array<string,mixed>|null */
function spool_read(string $file): ?array
{
    $msg = json_decode((string) @file_get_contents($file), true);
    if (!is_array($msg) || !isset($msg['id'], $msg['event'], $msg['body'])
        || !is_string($msg['id']) || !is_string($msg['event']) || !is_string($msg['body'])
        || !preg_match('/^[A-Za-z0-9_.-]{1,100}$/', $msg['id'])) {
        return null;
    }
    $msg['created_at'] = (int) ($msg['created_at'] ?? 0);
    return $msg;
}

function note_failure(array $s): void
{
    if (is_dir($s['spool_dir'])) {
        @touch($s['spool_dir'] . '/.last_failure');
    }
}

function in_backoff(array $s): bool
{
    $mtime = @filemtime($s['spool_dir'] . '/.last_failure');
    return $mtime !== false && time() - $mtime < $s['retry_backoff_s'];
}

/**
 * Resend the spooled events that are due, oldest first, each with its own id.
 *
 * A failing event never holds up the ones behind it: it gets its own next try
 * (backoff) and after spool_max_attempts goes to rejected/, as does an event
 * the bridge refuses for good or one older than spool_max_age_days.
 * The flush ends early only on an answer that every event would get alike:
 * the bridge not reached at all or unavailable as a whole (OUTCOME_UNAVAILABLE),
 * or a set-up problem (OUTCOME_SETUP: 401, 404, 405). Going on would only
 * spend the cron run's time (each unreachable try waits up to its connect
 * timeout) and could not succeed; and since those answers are never counted
 * against an event, no event is pushed towards rejected/ by an outage. A
 * timeout once the event was sent does not end the flush: it may be that
 * body's doing, so it counts against the event like a 500, and the time
 * budget bounds how many such tries one run makes. Work is bounded:
 * $max_files tries and $deadline_ms; waiting files are not even read.
 * Only one PHP process flushes at a time (flock); the others skip.
 *
 * @return array{sent:int, failed:int, rejected:int, left:int, rejected_total:int,
 *   locked:bool, last_failure:string, stopped:string, stop_detail:string, fix:string}
 */
function flush_spool(array $s, float $deadline_ms, int $max_files): array
{
    $report = [
        'sent' => 0, 'failed' => 0, 'rejected' => 0, 'left' => 0, 'rejected_total' => 0, 'locked' => false,
        'last_failure' => '', 'stopped' => '', 'stop_detail' => '', 'fix' => '',
    ];
    $dir = $s['spool_dir'];
    if (!is_dir($dir)) {
        return $report;
    }
    $lock = @fopen($dir . '/.lock', 'c');
    if ($lock === false) {
        log_activity("cannot open the lock file in spool folder {$dir}; spooled events not sent");
        return $report;
    }
    if (!flock($lock, LOCK_EX | LOCK_NB)) {
        fclose($lock);
        $report['locked'] = true;
        return $report;
    }
    try {
        $now = time();
        $max_age = $s['spool_max_age_days'] * 86400;
        $tries = 0;
        foreach (spool_files($dir) as $file) {
            $entry = spool_entry($file);
            if ($entry['next_try'] > $now) {
                continue; // waiting for its own next try
            }
            $remaining = (int) ($deadline_ms - now_ms());
            if ($tries >= $max_files || $remaining < 100) {
                break;
            }
            $tries++;
            $msg = spool_read($file);
            if ($msg === null) {
                @rename($file, $file . '.bad');
                log_activity('unreadable spool file moved aside: ' . basename($file) . '.bad');
                continue;
            }
            $what = "{$msg['event']} event {$msg['id']}";
            if ($max_age > 0 && $msg['created_at'] > 0 && $now - $msg['created_at'] > $max_age) {
                $why = "{$what} waited more than {$s['spool_max_age_days']} days";
                if (spool_reject($s, $msg, $why, $entry['attempts'], $entry['base'], $file)) {
                    $report['rejected']++;
                }
                continue;
            }
            $result = send($s, $msg, $remaining);
            $outcome = $result['outcome'];
            if ($outcome === OUTCOME_SENT) {
                @unlink($file);
                $report['sent']++;
            } elseif ($outcome === OUTCOME_REFUSED) {
                $why = "bridge refused spooled {$what} ({$result['detail']})";
                if (spool_reject($s, $msg, $why, $entry['attempts'] + 1, $entry['base'], $file)) {
                    $report['rejected']++;
                }
            } elseif ($outcome === OUTCOME_FAILED) {
                $attempts = $entry['attempts'] + 1;
                $report['last_failure'] = $result['detail'];
                $times = $attempts === 1 ? 'once' : "{$attempts} times";
                $why = "{$what} failed {$times} (last: {$result['detail']})";
                if ($attempts >= $s['spool_max_attempts']
                    && spool_reject($s, $msg, $why, $attempts, $entry['base'], $file)) {
                    $report['rejected']++;
                } else {
                    spool_reschedule($s, $file, $entry['base'], $attempts);
                    $report['failed']++;
                }
            } else {
                $report['stopped'] = $outcome;
                $report['stop_detail'] = $result['detail'];
                $report['fix'] = $result['fix'];
                note_failure($s);
                break;
            }
        }
        if ($report['sent'] > 0) {
            @unlink($dir . '/.last_failure');
        }
        $report['left'] = count(spool_files($dir));
        $report['rejected_total'] = rejected_count($s);
    } finally {
        flock($lock, LOCK_UN);
        fclose($lock);
    }
    return $report;
}

/** One Activity Log line per flush that did anything; it always says what rejected/ holds. */
function log_flush(string $when, array $report, array $s): void
{
    $r = $report;
    if ($r['sent'] + $r['failed'] + $r['rejected'] === 0 && $r['stopped'] === '') {
        return;
    }
    $msg = "{$when}: resent {$r['sent']} spooled event(s)";
    if ($r['failed'] > 0) {
        $msg .= ", {$r['failed']} failed and wait for their next try (last: {$r['last_failure']})";
    }
    if ($r['rejected'] > 0) {
        $msg .= ", {$r['rejected']} moved to rejected/";
    }
    $msg .= ", {$r['left']} waiting; rejected/ holds {$r['rejected_total']}";
    if ($r['rejected_total'] > 0) {
        $msg .= ' (' . rejected_dir($s) . ': move a file back into the spool folder to send it again)';
    }
    if ($r['stopped'] === OUTCOME_SETUP) {
        $msg .= "; stopped, the bridge refused the events ({$r['stop_detail']}): {$r['fix']}."
            . ' They stay in the spool until then';
    } elseif ($r['stopped'] === OUTCOME_UNAVAILABLE) {
        $msg .= "; bridge still unreachable ({$r['stop_detail']})";
    }
    log_activity($msg);
}

/* ---------------------------------------------------------------------------
 * Card direct debit (Pagos360): the two hooks that answer WHMCS.
 *
 * PreModuleSuspend returns ['abortcmd' => true] to stop a suspension and
 * EmailPreSend ['abortsend' => true] to stop an email (hooks-reference,
 * module and everything-else pages); nothing (null) lets WHMCS go on. The
 * client group's "exempt from suspend and terminate" option covers WHMCS's
 * automatic suspensions only; this hook is the second line, and also stops
 * the ones the option does not (ModuleSuspend from the API or another
 * module). Whatever cannot be read or decided lets WHMCS go on and leaves an
 * Activity Log line: a suspension that should not have happened is then
 * also announced by the bridge's AfterModuleSuspend alert.
 * ------------------------------------------------------------------------- */

/** Written into an invoice's notes by the bridge when its card debit was rejected. */
const DEBIT_REJECTED_MARKER = '[pagos360:rejected]';

/**
 * Who asks for the suspension under way: ['staff' => admin id, 'origin' => words].
 * staff > 0 only for a staff member's own action in the admin area:
 * WHMCS's admin pages define ADMINAREA before loading WHMCS (seen in public
 * copies of admin/clientsservices.php, whose Module Commands > Suspend is the
 * manual suspension), and the logged-in admin is $_SESSION['adminid']
 * (developers.whmcs.com, addon-modules/admin-area-output: "To access the
 * currently logged in admin user ID, use $_SESSION['adminid']"; also
 * \WHMCS\Session::get('adminid'), hooks-reference/ticket). The cron
 * (crons/cron.php, which defines IN_CRON and INCRONRUN in public copies of
 * WHMCS 8) and the API (includes/api.php, which may run as an admin) are
 * never a staff member by hand; neither is anything else that cannot be
 * told apart (staff 0): the caller then takes the safe side.
 *
 * @return array{staff:int, origin:string}
 */
function suspension_origin(): array
{
    $script = (string) ($_SERVER['SCRIPT_FILENAME'] ?? ($_SERVER['SCRIPT_NAME'] ?? ''));
    $script = basename(str_replace('\\', '/', $script));
    if (defined('IN_CRON') || defined('INCRONRUN') || $script === 'cron.php') {
        return ['staff' => 0, 'origin' => "WHMCS's cron"];
    }
    if ($script === 'api.php') {
        return ['staff' => 0, 'origin' => 'the WHMCS API'];
    }
    if (!defined('ADMINAREA')) {
        $where = PHP_SAPI === 'cli' ? 'a command-line run' : 'a request outside the admin area';
        return ['staff' => 0, 'origin' => $where];
    }
    $admin = 0;
    try {
        if (class_exists('WHMCS\Session') && is_callable(['WHMCS\Session', 'get'])) {
            $admin = (int) \WHMCS\Session::get('adminid');
        }
    } catch (\Throwable $e) {
        $admin = 0;
    }
    if ($admin <= 0 && isset($_SESSION['adminid']) && is_scalar($_SESSION['adminid'])) {
        $admin = (int) $_SESSION['adminid'];
    }
    if ($admin <= 0) {
        return ['staff' => 0, 'origin' => 'the admin area without a logged-in staff member'];
    }
    return ['staff' => $admin, 'origin' => 'the admin area'];
}

/**
 * The client's group id, read now from WHMCS (not from a hook's copy of the
 * client, which may be older): [group id, ''] or [null, why it is unknown].
 *
 * @return array{0:?int, 1:string}
 */
function client_group(array $s, int $client): array
{
    $result = local_api($s, 'GetClientsDetails', ['clientid' => $client, 'stats' => false]);
    if (!is_array($result) || ($result['result'] ?? '') !== 'success') {
        return [null, "GetClientsDetails for client {$client} failed: " . api_error($result)];
    }
    $details = isset($result['client']) && is_array($result['client']) ? $result['client'] : $result;
    $group = $details['groupid'] ?? ($result['groupid'] ?? null);
    if (!is_numeric($group)) {
        return [null, "GetClientsDetails for client {$client} gave no groupid"];
    }
    return [(int) $group, ''];
}

/**
 * PreModuleSuspend: ['abortcmd' => true] when the client pays by card direct
 * debit, unless a staff member suspends by hand and let_staff_suspend is on.
 *
 * @param mixed $vars what WHMCS passed to the hook: ['params' => module parameters]
 * @return array<string,bool>|null
 */
function on_pre_module_suspend($vars): ?array
{
    $what = 'suspension of a service';
    try {
        $s = settings();
        $params = is_array($vars) ? $vars : [];
        if (isset($params['params']) && is_array($params['params'])) {
            $params = $params['params'];
        }
        $details = isset($params['clientsdetails']) && is_array($params['clientsdetails'])
            ? $params['clientsdetails'] : [];
        $service = (int) ($params['serviceid'] ?? 0);
        $client = (int) ($params['userid'] ?? ($details['userid'] ?? ($details['id'] ?? 0)));
        $what = "suspension of service {$service} (client {$client})";
        if ($client <= 0) {
            log_activity("{$what} NOT CHECKED: the hook gave no client id, so whether the client pays by"
                . ' card direct debit cannot be told; WHMCS goes on with it');
            return null;
        }
        [$group, $why] = client_group($s, $client);
        if ($group === null) {
            log_activity("{$what} NOT CHECKED ({$why}); WHMCS goes on with it: if the client pays by card"
                . " direct debit (group {$s['debit_group_id']}), unsuspend the service");
            return null;
        }
        if ($group !== $s['debit_group_id']) {
            return null;
        }
        $origin = suspension_origin();
        $debit = "the client pays by card direct debit (group {$group})";
        if ($s['let_staff_suspend'] && $origin['staff'] > 0) {
            log_activity("{$what} let through: a staff member (admin id {$origin['staff']}) suspends it by hand"
                . " in the admin area, although {$debit}");
            return null;
        }
        $how = $s['let_staff_suspend']
            ? 'a staff member can still suspend it by hand in the admin area (Module Commands > Suspend)'
            : "to suspend it, move the client out of group {$group} first";
        log_activity("{$what} stopped: {$debit}; asked by {$origin['origin']}; {$how}");
        return ['abortcmd' => true];
    } catch (\Throwable $e) {
        log_activity("{$what} NOT CHECKED (PreModuleSuspend: " . get_class($e) . ': ' . $e->getMessage()
            . '); WHMCS goes on with it');
        return null;
    }
}

/**
 * EmailPreSend: ['abortsend' => true] for a reminder_templates email of an
 * invoice the card debit pays (its payment method is pagos360_gateway, or its
 * client is in debit_group_id), unless the invoice's card debit was rejected.
 *
 * @param mixed $vars what WHMCS passed to the hook: messagename, relid, mergefields
 * @return array<string,bool>|null
 */
function on_email_pre_send($vars): ?array
{
    $what = 'an email';
    try {
        $s = settings();
        if (!is_array($vars) || !isset($vars['messagename']) || !is_scalar($vars['messagename'])) {
            return null;
        }
        $template = trim((string) $vars['messagename']);
        $templates = array_map('strtolower', $s['reminder_templates']);
        if (!in_array(strtolower($template), $templates, true)) {
            return null;
        }
        // For invoice templates relid is the invoice id.
        $invoice_id = (int) ($vars['relid'] ?? 0);
        $what = "\"{$template}\" email of invoice {$invoice_id}";
        if ($invoice_id <= 0) {
            log_activity("{$what} sent: no invoice id, so it cannot be checked");
            return null;
        }
        $invoice = local_api($s, 'GetInvoice', ['invoiceid' => $invoice_id]);
        if (!is_array($invoice) || ($invoice['result'] ?? '') !== 'success') {
            log_activity("{$what} sent unchecked: GetInvoice failed: " . api_error($invoice));
            return null;
        }
        $notes = isset($invoice['notes']) && is_scalar($invoice['notes']) ? (string) $invoice['notes'] : '';
        if (stripos($notes, DEBIT_REJECTED_MARKER) !== false) {
            log_activity("{$what} sent: its card debit was rejected (" . DEBIT_REJECTED_MARKER . ' in its notes)');
            return null;
        }
        $method = isset($invoice['paymentmethod']) && is_scalar($invoice['paymentmethod'])
            ? trim((string) $invoice['paymentmethod']) : '';
        if ($s['pagos360_gateway'] !== '' && strcasecmp($method, $s['pagos360_gateway']) === 0) {
            log_activity("{$what} not sent: the invoice is paid by card direct debit (payment method {$method})");
            return ['abortsend' => true];
        }
        if ($s['debit_group_id'] <= 0) {
            return null;
        }
        $client = (int) ($invoice['userid'] ?? 0);
        if ($client <= 0) {
            log_activity("{$what} sent unchecked: GetInvoice gave no client id");
            return null;
        }
        [$group, $why] = client_group($s, $client);
        if ($group === null) {
            log_activity("{$what} sent unchecked ({$why})");
            return null;
        }
        if ($group === $s['debit_group_id']) {
            log_activity("{$what} not sent: client {$client} pays by card direct debit (group {$group})");
            return ['abortsend' => true];
        }
        return null;
    } catch (\Throwable $e) {
        log_activity("{$what} sent unchecked (EmailPreSend: " . get_class($e) . ': ' . $e->getMessage() . ')');
        return null;
    }
}

/* ---------------------------------------------------------------------------
 * Hook entry points
 * ------------------------------------------------------------------------- */

/** Deliver a new event now, or spool it; never more than ~timeout_ms. */
function deliver(array $s, array $msg): void
{
    $deadline = now_ms() + $s['timeout_ms'];

    // Events already waiting go first: queue this one behind them, then
    // flush (unless a delivery failed moments ago: then only spool).
    if (spool_files($s['spool_dir'])) {
        if (spool_write($s, $msg)) {
            if (in_backoff($s)) {
                log_activity("bridge failed moments ago; {$msg['event']} event {$msg['id']} spooled for the next try");
            } else {
                log_flush($msg['event'], flush_spool($s, $deadline, $s['flush_max_files']), $s);
            }
            return;
        }
        // Could not spool: fall through and try to send it directly.
    }

    $result = send($s, $msg, $s['timeout_ms']);
    $what = "{$msg['event']} event {$msg['id']}";
    $attempts = 0;
    if ($result['outcome'] === OUTCOME_SENT) {
        return;
    }
    if ($result['outcome'] === OUTCOME_REFUSED) {
        $why = "bridge refused {$what} ({$result['detail']})";
        if (spool_reject($s, $msg, $why, 1, new_base($msg), null)) {
            return;
        }
        // rejected/ cannot be written: keep it in the spool rather than lose it.
    } elseif ($result['outcome'] === OUTCOME_FAILED) {
        $attempts = 1; // this event's own try: counted against it
    }
    $why = $result['detail'] . ($result['fix'] !== '' ? ": {$result['fix']}" : '');
    if (spool_write($s, $msg, $attempts)) {
        if ($result['outcome'] === OUTCOME_UNAVAILABLE || $result['outcome'] === OUTCOME_SETUP) {
            note_failure($s); // the bridge as a whole: later panel requests only spool for a while
        }
        log_activity("{$what} not delivered ({$why}); spooled for retry");
    } else {
        log_activity("{$what} not delivered ({$why}) and could not be spooled; lost");
    }
}

/** @param mixed $vars what WHMCS passed to the hook */
function on_event(string $hook, $vars): void
{
    try {
        $s = settings();
        $problem = config_problem($s);
        if ($problem !== '') {
            log_activity("not configured ({$problem}); {$hook} event not sent");
            return;
        }
        $body = json_encode([
            'event' => $hook,
            'params' => (object) build_params($hook, is_array($vars) ? $vars : [], $s),
        ], JSON_FLAGS);
        if (!is_string($body)) {
            log_activity("{$hook}: could not encode the event (" . json_last_error_msg() . ')');
            return;
        }
        deliver($s, [
            'id' => 'whmcs_' . bin2hex(random_bytes(12)), // stable across resends
            'event' => $hook,
            'body' => $body,
            'created_at' => time(),
        ]);
    } catch (\Throwable $e) {
        log_activity("{$hook}: unexpected error (" . get_class($e) . ': ' . $e->getMessage() . ')');
    }
}

function on_cron(): void
{
    try {
        $s = settings();
        $dir = $s['spool_dir'];
        if (!spool_files($dir) || config_problem($s) !== '') {
            return;
        }
        foreach (array_merge(glob($dir . '/.tmp-*') ?: [], glob(rejected_dir($s) . '/.tmp-*') ?: []) as $tmp) {
            if (time() - (int) @filemtime($tmp) > 3600) {
                @unlink($tmp); // left by a PHP process killed mid-write
            }
        }
        $deadline = now_ms() + $s['cron_flush_budget_ms'];
        log_flush('cron', flush_spool($s, $deadline, $s['flush_max_files']), $s);
    } catch (\Throwable $e) {
        log_activity('cron flush: unexpected error (' . get_class($e) . ': ' . $e->getMessage() . ')');
    }
}

/** Hooks this file can forward (each has an allow-list). */
function supported_hooks(): array
{
    return array_keys(allow_lists());
}

(function (): void {
    try {
        $s = settings();
        $priority = $s['hook_priority'];
        foreach (supported_hooks() as $hook) {
            if (!in_array($hook, $s['events'], true)) {
                continue;
            }
            \add_hook($hook, $priority, function ($vars) use ($hook): void {
                on_event($hook, $vars);
            });
        }
        \add_hook('AfterCronJob', $priority, function ($vars): void {
            on_cron();
        });
        // These two answer WHMCS (see "Card direct debit" above).
        if ($s['never_suspend_debit_clients'] && $s['debit_group_id'] > 0) {
            \add_hook('PreModuleSuspend', $priority, function ($vars): ?array {
                return on_pre_module_suspend($vars);
            });
        }
        if ($s['abort_reminder_emails']) {
            \add_hook('EmailPreSend', $priority, function ($vars): ?array {
                return on_email_pre_send($vars);
            });
        }
    } catch (\Throwable $e) {
        log_activity('hook registration failed (' . get_class($e) . ': ' . $e->getMessage() . ')');
    }
})();
