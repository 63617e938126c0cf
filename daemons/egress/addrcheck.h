/* Which addresses egress refuses to dial unless a rule names them: the connect-time check that
 * stops DNS rebinding (a public name resolving to an internal address). Pure. */
#pragma once

#include <sys/socket.h>

/* Why addr is internal, or NULL when it is a public unicast address. The reasons are static
 * strings: "loopback" (127/8, ::1), "private" (10/8, 172.16/12, 192.168/16), "link-local"
 * (169.254/16 — the cloud metadata address 169.254.169.254 included — and fe80::/10),
 * "cgnat" (100.64/10), "ula" (fc00::/7), "unspecified" (0/8, ::), "multicast" (224/4, ff00::/8),
 * "broadcast" (255.255.255.255), "reserved" (240/4, 192.0.0/24, 198.18/15 benchmarking,
 * documentation ranges, 2001:db8::/32), "site-local" (fec0::/10). IPv4-mapped (::ffff:a.b.c.d),
 * IPv4-compatible (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d), NAT64 (64:ff9b::/96 and the
 * local-use 64:ff9b:1::/48), 6to4 (2002::/16, the embedded address) and Teredo (2001::/32, the
 * embedded client address) forms are judged by the IPv4 address they carry, with the reason
 * prefixed, e.g. "ipv4-mapped loopback". */
const char *addrcheck_internal(const struct sockaddr *addr);
