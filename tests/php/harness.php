<?php
/**
 * Stand-in for WHMCS, to run whmcs/includes/hooks/whatsapp_bridge.php from the CLI.
 *
 *   php tests/php/harness.php <HookName> [params.json]
 *
 * Defines WHMCS, add_hook() (records callbacks and priorities), localAPI()
 * (answers from JSON files) and logActivity() (appends to a file), includes
 * the hook file, runs the callbacks registered for <HookName> in priority
 * order with the params from the JSON file ({} when none), and prints JSON:
 *   hook, context, registered {hook: [priorities]}, callbacks_run, return_values (what each
 *   callback returned, in order: null, or an object for the hooks that answer WHMCS),
 *   duration_ms (callbacks only), include_ms, activity_log (this run's lines),
 *   localapi_calls [{command, args}], php_errors, exceptions, output.
 *
 * Environment:
 *   WHMCS_HARNESS_HOOK_FILE     hook file (default: <repo>/whmcs/includes/hooks/whatsapp_bridge.php)
 *   WHMCS_HARNESS_API_DIR       extra localAPI fixture dir, searched first
 *   WHMCS_HARNESS_SAMPLES_DIR   shared samples (default: <repo>/../shared/samples)
 *   WHMCS_HARNESS_API_THROW     comma list of localAPI commands that throw
 *   WHMCS_HARNESS_ACTIVITY_LOG  activity log file (default: a temp file)
 *   WHMCS_HARNESS_CONTEXT       where the hook runs, as WHMCS sets it up (default: none of
 *                               these, a bare CLI run):
 *                                 admin  an admin area page: ADMINAREA defined, SCRIPT_FILENAME
 *                                        .../admin/clientsservices.php (Module Commands)
 *                                 cron   crons/cron.php: IN_CRON and INCRONRUN defined
 *                                 api    includes/api.php
 *   WHMCS_HARNESS_ADMIN_ID      the logged-in staff member: $_SESSION['adminid']
 * The hook file itself reads WHATSAPP_BRIDGE_URL, WHATSAPP_BRIDGE_SECRET,
 * WHATSAPP_BRIDGE_SPOOL_DIR, WHATSAPP_BRIDGE_EVENTS, ... (see its header).
 */

define('WHMCS', true);

$repo = dirname(__DIR__, 2);
$GLOBALS['harness'] = [
    'hooks' => [],
    'api_calls' => [],
    'errors' => [],
    'log_file' => getenv('WHMCS_HARNESS_ACTIVITY_LOG') ?: tempnam(sys_get_temp_dir(), 'whmcs_activity_'),
    'api_dirs' => array_values(array_filter([
        getenv('WHMCS_HARNESS_API_DIR') ?: null,
        __DIR__ . '/fixtures/whmcs_api',
        (getenv('WHMCS_HARNESS_SAMPLES_DIR') ?: dirname($repo) . '/shared/samples') . '/whmcs_api',
    ])),
    'api_throw' => array_filter(explode(',', (string) getenv('WHMCS_HARNESS_API_THROW'))),
];

// What WHMCS has set up by the time a hook runs, per entry point (constants as WHMCS 8's
// admin pages and crons/cron.php define them, in public copies of those files).
$context = (string) getenv('WHMCS_HARNESS_CONTEXT');
$whmcsRoot = '/var/www/whmcs';
if ($context === 'admin') {
    define('ADMINAREA', true);
    $_SERVER['SCRIPT_FILENAME'] = $whmcsRoot . '/admin/clientsservices.php';
    $_SERVER['SCRIPT_NAME'] = '/admin/clientsservices.php';
    $_SERVER['REQUEST_METHOD'] = 'POST';
} elseif ($context === 'cron') {
    define('INCRONRUN', true);
    define('IN_CRON', true);
    $_SERVER['SCRIPT_FILENAME'] = $whmcsRoot . '/crons/cron.php';
    $_SERVER['SCRIPT_NAME'] = 'crons/cron.php';
} elseif ($context === 'api') {
    $_SERVER['SCRIPT_FILENAME'] = $whmcsRoot . '/includes/api.php';
    $_SERVER['SCRIPT_NAME'] = '/includes/api.php';
    $_SERVER['REQUEST_METHOD'] = 'POST';
} elseif ($context !== '') {
    fwrite(STDERR, "harness: WHMCS_HARNESS_CONTEXT must be admin, cron or api, not {$context}\n");
    exit(2);
}
if ((string) getenv('WHMCS_HARNESS_ADMIN_ID') !== '') {
    $_SESSION = ['adminid' => (int) getenv('WHMCS_HARNESS_ADMIN_ID')];
}

function add_hook($hookName, $priority, $function)
{
    $GLOBALS['harness']['hooks'][$hookName][] = ['priority' => $priority, 'fn' => $function];
}

function localAPI($command, $values = [], $adminUser = null)
{
    $GLOBALS['harness']['api_calls'][] = ['command' => $command, 'args' => $values];
    if (in_array($command, $GLOBALS['harness']['api_throw'], true)) {
        throw new RuntimeException("harness: localAPI {$command} made to fail");
    }
    foreach ($GLOBALS['harness']['api_dirs'] as $dir) {
        $file = $dir . '/' . $command . '.json';
        if (is_file($file)) {
            return json_decode(file_get_contents($file), true);
        }
    }
    return ['result' => 'error', 'message' => "harness: no fixture for {$command}"];
}

function logActivity($description, $userId = 0)
{
    file_put_contents($GLOBALS['harness']['log_file'], $description . "\n", FILE_APPEND | LOCK_EX);
}

set_error_handler(function ($errno, $errstr, $errfile, $errline) {
    if (!(error_reporting() & $errno)) {
        return false; // silenced with @
    }
    $GLOBALS['harness']['errors'][] = "{$errstr} at " . basename($errfile) . ":{$errline}";
    return true;
});

$hookName = $argv[1] ?? '';
if ($hookName === '') {
    fwrite(STDERR, "usage: php harness.php <HookName> [params.json]\n");
    exit(2);
}
$params = [];
if (isset($argv[2])) {
    $params = json_decode((string) file_get_contents($argv[2]), true);
    if (!is_array($params)) {
        fwrite(STDERR, "harness: {$argv[2]} is not a JSON object\n");
        exit(2);
    }
}

$logStart = is_file($GLOBALS['harness']['log_file']) ? filesize($GLOBALS['harness']['log_file']) : 0;
$exceptions = [];
$returns = [];

ob_start();
$t0 = microtime(true);
try {
    include getenv('WHMCS_HARNESS_HOOK_FILE') ?: $repo . '/whmcs/includes/hooks/whatsapp_bridge.php';
} catch (Throwable $e) {
    $exceptions[] = 'include: ' . get_class($e) . ': ' . $e->getMessage();
}
$t1 = microtime(true);

$callbacks = $GLOBALS['harness']['hooks'][$hookName] ?? [];
usort($callbacks, function ($a, $b) {
    return $a['priority'] <=> $b['priority'];
});
foreach ($callbacks as $cb) {
    try {
        $returns[] = ($cb['fn'])($params);
    } catch (Throwable $e) {
        $exceptions[] = get_class($e) . ': ' . $e->getMessage();
    }
}
$t2 = microtime(true);
$output = ob_get_clean();

clearstatcache();
$log = (string) @file_get_contents($GLOBALS['harness']['log_file'], false, null, $logStart);

$registered = [];
foreach ($GLOBALS['harness']['hooks'] as $name => $list) {
    $registered[$name] = array_column($list, 'priority');
}

echo json_encode([
    'hook' => $hookName,
    'context' => $context,
    'registered' => (object) $registered,
    'callbacks_run' => count($callbacks),
    'return_values' => $returns,
    'duration_ms' => round(($t2 - $t1) * 1000, 1),
    'include_ms' => round(($t1 - $t0) * 1000, 1),
    'activity_log' => array_values(array_filter(explode("\n", $log), 'strlen')),
    'localapi_calls' => $GLOBALS['harness']['api_calls'],
    'php_errors' => $GLOBALS['harness']['errors'],
    'exceptions' => $exceptions,
    'output' => $output,
], JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE), "\n";
