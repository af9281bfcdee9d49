import { MAKINI_SOURCE_IPS } from '../../lambdas/config/config';
import { sourceAllowlist } from '../../lambdas/core/source-allowlist';

describe('sourceAllowlist', () => {
  it('allows every source when no rule is set', () => {
    expect(sourceAllowlist([])).toBeUndefined();
  });

  it('reads `makini` as the addresses Makini documents', () => {
    const allowed = sourceAllowlist(['makini'])!;
    for (const ip of MAKINI_SOURCE_IPS) expect(allowed(ip)).toBe(true);
    expect(allowed('203.0.113.7')).toBe(false);
  });

  it('matches IPv4 and IPv6 addresses and ranges, and never something that is not an address', () => {
    const allowed = sourceAllowlist(['203.0.113.0/24', '2001:db8::/32', '198.51.100.1'])!;
    expect(allowed('203.0.113.7')).toBe(true);
    expect(allowed('198.51.100.1')).toBe(true);
    expect(allowed('2001:db8::1')).toBe(true);
    expect(allowed('2001:db9::1')).toBe(false);
    expect(allowed('198.51.100.2')).toBe(false);
    expect(allowed('not an address')).toBe(false);
  });
});
