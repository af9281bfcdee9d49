// Tests never reach AWS: dummy credentials and region, and every endpoint a test needs is a
// loopback server the test starts itself (AWS_ENDPOINT_URL_<SERVICE>).
process.env.AWS_REGION = 'us-east-1';
process.env.AWS_ACCESS_KEY_ID = 'test';
process.env.AWS_SECRET_ACCESS_KEY = 'test';
delete process.env.AWS_PROFILE;
delete process.env.AWS_SESSION_TOKEN;
// Powertools: no colour codes or buffering surprises in captured output.
process.env.POWERTOOLS_DEV = 'true';
// POWERTOOLS_DEV would also disable metrics; keep EMF on so tests can assert it.
process.env.POWERTOOLS_METRICS_DISABLED = 'false';
// The SDK warns that it will need Node 22 from 2027; Lambda runs nodejs22.x, tests run on 20 too.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
