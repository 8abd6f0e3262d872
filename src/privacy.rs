//! Pseudonyms: what is kept instead of an IP address or an e-mail address.
//! Keyed with `secrets.pseudonym`, so that they cannot be reversed by
//! hashing every address without the key; what is looked up is looked up
//! under the retired keys too (`secrets.pseudonym_retired`).

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::secrets::Key;

/// HMAC-SHA-256 of `value` under `key`, separated by `domain`, as 32 hex
/// characters (128 bits).
pub fn keyed_hash(key: &Key, domain: &str, value: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("any key length");
    mac.update(domain.as_bytes());
    mac.update(&[0]);
    mac.update(value);
    let digest = mac.finalize().into_bytes();
    hex::encode(&digest[..16])
}

/// The pseudonym of an e-mail address (lower-cased by the caller) under
/// each of `keys`, the current key first: records made before a rotation
/// hold one of the later ones.
pub fn email_pseudonyms<'k>(keys: impl IntoIterator<Item = &'k Key>, email: &str) -> Vec<String> {
    keys.into_iter()
        .map(|key| keyed_hash(key, "email", email.as_bytes()))
        .collect()
}

/// The network an address belongs to: its /24 (IPv4) or /48 (IPv6).
pub fn network_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_prefix(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        },
    }
}

/// The keyed pseudonym of an address's network prefix: never the address.
pub fn ip_pseudonym(key: &Key, ip: IpAddr) -> String {
    keyed_hash(key, "ip-prefix", network_prefix(ip).as_bytes())
}

/// What is kept of a secret token handed out in a link (a tracking or an
/// unlock link): its SHA-256, in hex, so that the database alone cannot
/// open what the link opens.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 32])
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            network_prefix("192.0.2.77".parse().unwrap()),
            "192.0.2.0/24"
        );
        assert_eq!(
            network_prefix("2001:db8:abcd:12::1".parse().unwrap()),
            "2001:db8:abcd::/48"
        );
        assert_eq!(
            network_prefix("::ffff:192.0.2.9".parse().unwrap()),
            "192.0.2.0/24"
        );
    }

    #[test]
    fn same_network_same_pseudonym_other_key_other_pseudonym() {
        let a = ip_pseudonym(&key(1), "192.0.2.1".parse().unwrap());
        let b = ip_pseudonym(&key(1), "192.0.2.254".parse().unwrap());
        let c = ip_pseudonym(&key(2), "192.0.2.1".parse().unwrap());
        let d = ip_pseudonym(&key(1), "192.0.3.1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(a.len(), 32);
        assert!(!a.contains('.'));
    }
}
