<?php
/**
 * What a synchronous WHMCS module does inside the panel's request: send one WhatsApp
 * message straight to Twilio's Messages API with curl and wait for the answer.
 * Run by bench/panel.py against a Twilio stand-in; prints {"ms": ..., "status": ...}.
 *
 * Environment: BENCH_TWILIO_URL (base URL), BENCH_TWILIO_SID, BENCH_TWILIO_TOKEN.
 */

$sid = getenv('BENCH_TWILIO_SID');
$url = getenv('BENCH_TWILIO_URL') . '/2010-04-01/Accounts/' . $sid . '/Messages.json';
$form = http_build_query([
    'To' => 'whatsapp:+5493514000001',
    'From' => 'whatsapp:+14155238886',
    'Body' => 'Hola Lucía, tu factura A-88231 por $ 12.500,00 vence el 01/12/2026.',
]);

$t0 = hrtime(true);
$ch = curl_init($url);
curl_setopt_array($ch, [
    CURLOPT_POST => true,
    CURLOPT_POSTFIELDS => $form,
    CURLOPT_USERPWD => $sid . ':' . getenv('BENCH_TWILIO_TOKEN'),
    CURLOPT_HTTPHEADER => ['Expect:'],
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_CONNECTTIMEOUT_MS => 1000,
    CURLOPT_TIMEOUT_MS => 10000,
]);
$answer = curl_exec($ch);
$status = (int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
curl_close($ch);
$ms = (hrtime(true) - $t0) / 1e6;

echo json_encode(['ms' => $ms, 'status' => $status, 'error' => $answer === false ? 'curl failed' : '']), "\n";
