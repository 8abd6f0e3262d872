//! Free text a citizen writes that goes into a message to an address nobody
//! has confirmed: the names, which the letters may greet by. Whoever fills
//! the form chooses the recipient, so such a text must not make the town
//! hall's letter carry a link (a web address, an e-mail address, a bare
//! domain that mail readers turn into a link) or turn its words around
//! (characters that change the direction of text, which can make a line
//! read other than it is).
//!
//! The OpenAPI document states the same rule as patterns
//! (`patterns::NAME`, `patterns::LINK`).

/// Characters that change the direction of text: the embeddings and
/// overrides (U+202A–U+202E), the isolates (U+2066–U+2069) and the marks
/// (U+200E, U+200F, U+061C).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// A full stop as address bars read it: the ASCII one, and the ideographic
/// and full-width ones that international domain names accept in its place.
fn is_dot(c: char) -> bool {
    matches!(c, '.' | '\u{3002}' | '\u{ff0e}' | '\u{ff61}')
}

/// Whether a text holds what a mail reader would show as a link: a scheme
/// (`://`), an `@`, or a domain — a letter or digit, a dot, then two
/// letters (`example.com`, `www.x.fr`, `bit.ly`). Initials (`J.P.`,
/// `J.-P.`) are not domains.
pub fn has_link(text: &str) -> bool {
    if text.contains("://") || text.contains('@') {
        return true;
    }
    let chars: Vec<char> = text.chars().collect();
    chars.windows(4).any(|w| {
        w[0].is_ascii_alphanumeric()
            && is_dot(w[1])
            && w[2].is_ascii_alphabetic()
            && w[3].is_ascii_alphabetic()
    })
}

/// The field error of a text that changes the direction of writing.
pub const TURNS_TEXT: &str = "must not contain characters that change the direction of text";
/// The field error of a text that holds a link.
pub const HOLDS_LINK: &str = "must not contain a web address, an e-mail address or a domain name";

/// Why a text may not go into such a message, if it may not.
pub fn refusal(text: &str) -> Option<&'static str> {
    if text.chars().any(is_bidi_control) {
        Some(TURNS_TEXT)
    } else if has_link(text) {
        Some(HOLDS_LINK)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_pass_links_and_direction_changes_do_not() {
        for name in [
            "Zoé",
            "Jean-Pierre",
            "J.P. Martin",
            "J.-Ph. Lefèvre",
            "O'Brien",
            "Nguyễn Thị",
            "محمد",
            "Ève d’Arc",
            "St. Clair",
        ] {
            assert_eq!(refusal(name), None, "{name}");
        }
        for link in [
            "https://evil.example",
            "ftp://x",
            "www.ville-sevres-remboursement.fr",
            "evil.com",
            "Zoé visit bit.ly now",
            "EVIL.COM",
            "example\u{3002}com",
            "example\u{ff0e}com",
            "zoe@example.org",
        ] {
            assert_eq!(refusal(link), Some(HOLDS_LINK), "{link}");
        }
        for turned in ["Zoé\u{202e}fdp.exe", "a\u{2066}b", "\u{200f}x", "x\u{061c}"] {
            assert_eq!(refusal(turned), Some(TURNS_TEXT), "{turned:?}");
        }
    }
}
