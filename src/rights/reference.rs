//! A request's reference, as the requester and the DPO quote it.

use rand::Rng;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `DR-` and six characters without look-alikes (no I, L, O, U).
pub fn new_reference() -> String {
    let mut rng = rand::rng();
    let tail: String = (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("DR-{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_have_no_look_alikes() {
        for _ in 0..100 {
            let r = new_reference();
            assert_eq!(r.len(), 9);
            assert!(r.starts_with("DR-"));
            assert!(!r[3..].contains(['I', 'L', 'O', 'U']));
        }
    }
}
