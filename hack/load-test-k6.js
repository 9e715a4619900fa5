// Capacity baseline for the helloworld app (k6).
//
//   k6 run -e BASE_URL=https://<INGRESS_IP> \
//          -e HOST_HEADER=prod.helloworld.shipshape.example.com \
//          -e VUS=30 -e DURATION=5m hack/load-test-k6.js
//
// Variables (all optional):
//   BASE_URL     where to send requests (default http://127.0.0.1:8080)
//   HOST_HEADER  the virtual host to ask for. When set, requests name that host
//                and k6 resolves it to BASE_URL's address, so the Host header,
//                TLS SNI and certificate check all match what a real client
//                sends through the ingress.
//   VUS          concurrent virtual users (default 30)
//   DURATION     how long to run, k6 syntax (default 5m)
//   MIN_RPS      throughput the run must sustain (default 120, the promotion gate)
//
// The thresholds are the production promotion gate: p95 <= 250 ms,
// p99 <= 500 ms, 5xx <= 1 %, >= MIN_RPS requests/s. k6 exits non-zero when one
// is missed. 429s from the ingress rate limit are counted apart
// (rate_limited), because they are not server errors.

import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';

function positiveInt(name, raw, fallback) {
  if (raw === undefined || raw === '') {
    return fallback;
  }
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1) {
    throw new Error(`${name} must be a positive whole number, got "${raw}"`);
  }
  return Number(raw);
}

function duration(raw, fallback) {
  if (raw === undefined || raw === '') {
    return fallback;
  }
  if (!/^([0-9]+(ms|s|m|h))+$/.test(raw)) {
    throw new Error(`DURATION must be a k6 duration such as 30s or 5m, got "${raw}"`);
  }
  return raw;
}

// scheme://host[:port][/path] -> parts; k6 has no URL class of its own.
function splitUrl(raw) {
  const match = /^(https?):\/\/(\[[^\]]+\]|[^/:]+)(:[0-9]+)?(\/.*)?$/.exec(raw);
  if (match === null) {
    throw new Error(`BASE_URL must look like http(s)://host[:port], got "${raw}"`);
  }
  return {
    scheme: match[1],
    host: match[2],
    port: match[3] || '',
    path: (match[4] || '').replace(/\/+$/, ''),
  };
}

const base = splitUrl(__ENV.BASE_URL || 'http://127.0.0.1:8080');
const hostHeader = (__ENV.HOST_HEADER || '').trim();
const target = hostHeader
  ? `${base.scheme}://${hostHeader}${base.port}${base.path}`
  : `${base.scheme}://${base.host}${base.port}${base.path}`;

const serverErrors = new Rate('server_errors');
const rateLimited = new Rate('rate_limited');

export const options = {
  vus: positiveInt('VUS', __ENV.VUS, 30),
  duration: duration(__ENV.DURATION, '5m'),
  // Send HOST_HEADER's requests to BASE_URL's address.
  hosts: hostHeader ? { [hostHeader]: base.host.replace(/^\[|\]$/g, '') } : {},
  thresholds: {
    http_req_duration: ['p(95)<=250', 'p(99)<=500'],
    server_errors: ['rate<=0.01'],
    http_reqs: [`rate>=${positiveInt('MIN_RPS', __ENV.MIN_RPS, 120)}`],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  const response = http.get(`${target}/`, { tags: { name: 'GET /' } });
  serverErrors.add(response.status >= 500);
  rateLimited.add(response.status === 429);
  check(response, {
    'status is 200': (r) => r.status === 200,
    'body is the message': (r) => typeof r.body === 'string' && r.body.length > 0,
  });
}
