//! Who is calling: the client address, believed from the forwarding header
//! only as far as the hops that wrote it are trusted proxies, and the key
//! under which per-address limits count it.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::HttpRequest;

use crate::config::{ForwardedHeader, ServerSettings};

/// The client's address: the peer's or, when the peer is one of
/// `server.trusted_proxies`, the rightmost hop of the forwarding header
/// (`server.forwarded_header`) that is not a trusted proxy.
///
/// The walk goes from the right, where the nearest proxy wrote; an entry
/// that cannot be read ends it, and the last trusted hop counts: whatever
/// stands left of it was written by the client, or by a proxy nobody
/// vouches for.
pub fn client_ip(req: &HttpRequest, server: &ServerSettings) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip().to_canonical();
    let trusted = &server.trusted_proxies;
    if !is_trusted(trusted, peer) {
        return Some(peer);
    }
    let lines = req
        .headers()
        .get_all(server.forwarded_header.name())
        .map(|v| v.to_str().ok());
    let mut hops = Vec::new();
    for line in lines {
        match (line, server.forwarded_header) {
            (None, _) => hops.push(None),
            (Some(line), ForwardedHeader::XForwardedFor) => {
                hops.extend(line.split(',').map(parse_node));
            }
            (Some(line), ForwardedHeader::Forwarded) => {
                hops.extend(split_unquoted(line, ',').into_iter().map(forwarded_for));
            }
        }
    }
    Some(walk(peer, trusted, hops))
}

/// The key of an address in the per-address limits: an IPv4 address
/// itself, an IPv6 address its /64, which one subscriber usually holds
/// whole (counting each address apart would give every client 2^64 tries).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

fn is_trusted(trusted: &[IpAddr], ip: IpAddr) -> bool {
    trusted.iter().any(|t| t.to_canonical() == ip)
}

/// From the right: trusted hops are passed, the first other address is the
/// client; an unreadable hop (`None`) stops at the last trusted one.
fn walk(peer: IpAddr, trusted: &[IpAddr], hops: Vec<Option<IpAddr>>) -> IpAddr {
    let mut last_trusted = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(ip) if is_trusted(trusted, ip) => last_trusted = ip,
            Some(ip) => return ip,
            None => break,
        }
    }
    last_trusted
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:4711`; anything else is unreadable.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let ip = match text.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => match text.parse::<SocketAddr>() {
            Ok(addr) => addr.ip(),
            Err(_) => IpAddr::V6(
                text.strip_prefix('[')?
                    .strip_suffix(']')?
                    .parse::<Ipv6Addr>()
                    .ok()?,
            ),
        },
    };
    Some(ip.to_canonical())
}

/// The `for=` of one element of an RFC 7239 `Forwarded` header
/// (`for=192.0.2.60;proto=https`, `for="[2001:db8::17]:4711"`): an element
/// without exactly one readable `for` is unreadable.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in split_unquoted(element, ';') {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            continue;
        }
        if found.is_some() {
            return None;
        }
        found = Some(unquote(value.trim())?);
    }
    parse_node(&found?)
}

/// Splits at `sep` outside quoted strings (where `\` escapes a character).
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A token as is, or a quoted string without its quotes and escapes; an
/// unterminated quote is unreadable.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return (!value.contains('"')).then(|| value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const PEER: &str = "10.0.0.2";

    fn xff(trusted: &[&str], header: &str) -> IpAddr {
        let trusted: Vec<IpAddr> = trusted.iter().map(|s| ip(s)).collect();
        walk(
            ip(PEER),
            &trusted,
            header.split(',').map(parse_node).collect(),
        )
    }

    fn fwd(trusted: &[&str], header: &str) -> IpAddr {
        let trusted: Vec<IpAddr> = trusted.iter().map(|s| ip(s)).collect();
        let hops = split_unquoted(header, ',')
            .into_iter()
            .map(forwarded_for)
            .collect();
        walk(ip(PEER), &trusted, hops)
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let proxies = [PEER, "10.0.0.1"];
        assert_eq!(
            xff(&proxies, "198.51.100.9, 203.0.113.7, 10.0.0.1"),
            ip("203.0.113.7")
        );
        assert_eq!(xff(&proxies, "203.0.113.7"), ip("203.0.113.7"));
        // Every hop a trusted proxy: the farthest of them.
        assert_eq!(xff(&proxies, "10.0.0.1"), ip("10.0.0.1"));
    }

    #[test]
    fn ports_and_brackets_are_read() {
        let proxies = [PEER];
        assert_eq!(xff(&proxies, "203.0.113.7:4711"), ip("203.0.113.7"));
        assert_eq!(xff(&proxies, "[2001:db8::17]:4711"), ip("2001:db8::17"));
        assert_eq!(xff(&proxies, "[2001:db8::17]"), ip("2001:db8::17"));
        assert_eq!(xff(&proxies, " 2001:db8::17 "), ip("2001:db8::17"));
        assert_eq!(xff(&proxies, "::ffff:203.0.113.7"), ip("203.0.113.7"));
    }

    #[test]
    fn an_unreadable_hop_ends_the_walk_at_the_last_trusted_one() {
        let proxies = [PEER, "10.0.0.1"];
        // The client wrote "198.51.100.9, junk": never reached past the junk.
        assert_eq!(xff(&proxies, "198.51.100.9, junk"), ip(PEER));
        assert_eq!(
            xff(&proxies, "198.51.100.9, junk, 10.0.0.1"),
            ip("10.0.0.1")
        );
        assert_eq!(xff(&proxies, "198.51.100.9,"), ip(PEER));
        assert_eq!(xff(&proxies, "198.51.100.9, 1.2.3.4:99999"), ip(PEER));
        assert_eq!(xff(&proxies, "198.51.100.9, [1.2.3.4]"), ip(PEER));
        assert_eq!(xff(&proxies, "198.51.100.9, unknown"), ip(PEER));
        // Junk left of the client a proxy appended does not matter.
        assert_eq!(xff(&proxies, "junk, 203.0.113.7"), ip("203.0.113.7"));
    }

    #[test]
    fn forwarded_elements_give_their_for() {
        let proxies = [PEER, "10.0.0.1"];
        assert_eq!(
            fwd(
                &proxies,
                r#"for=198.51.100.9, For="[2001:db8:cafe::17]:4711";proto=https"#
            ),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            fwd(&proxies, "for=203.0.113.7;by=10.0.0.1, for=10.0.0.1"),
            ip("203.0.113.7")
        );
        assert_eq!(fwd(&proxies, r#"for="203.0.113.7:80""#), ip("203.0.113.7"));
        // A quoted comma or semicolon stays inside its value (unreadable).
        assert_eq!(
            fwd(&proxies, r#"for=198.51.100.9, for="1.2.3.4,5""#),
            ip(PEER)
        );
        assert_eq!(
            fwd(&proxies, r#"for=198.51.100.9, for="1.2.3.4;x""#),
            ip(PEER)
        );
        // Obfuscated, missing, doubled or unterminated: unreadable.
        for junk in [
            "for=_hidden",
            "for=unknown",
            "proto=https",
            "for=1.2.3.4;for=5.6.7.8",
            r#"for="1.2.3.4"#,
            "for",
        ] {
            assert_eq!(
                fwd(&proxies, &format!("for=198.51.100.9, {junk}")),
                ip(PEER)
            );
        }
    }

    #[test]
    fn limits_count_ipv6_by_its_64() {
        assert_eq!(limit_key(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(limit_key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
    }
}
