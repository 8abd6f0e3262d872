//! The text the DPO's search looks into: reference, names and e-mail,
//! lower case and without accents, so that `zoe` finds « Zoé » and `ZOÉ`
//! finds « Zoe ». The stored text and the query go through the same
//! function; the migration `2026-12-01-000008_queue_speed` folds the rows
//! written before it with the same table (keep the two in step).

/// Accented lower-case letters and what they fold to.
const FOLDS: &[(char, &str)] = &[
    ('à', "a"),
    ('á', "a"),
    ('â', "a"),
    ('ã', "a"),
    ('ä', "a"),
    ('å', "a"),
    ('æ', "ae"),
    ('ç', "c"),
    ('è', "e"),
    ('é', "e"),
    ('ê', "e"),
    ('ë', "e"),
    ('ì', "i"),
    ('í', "i"),
    ('î', "i"),
    ('ï', "i"),
    ('ñ', "n"),
    ('ò', "o"),
    ('ó', "o"),
    ('ô', "o"),
    ('õ', "o"),
    ('ö', "o"),
    ('ø', "o"),
    ('œ', "oe"),
    ('ù', "u"),
    ('ú', "u"),
    ('û', "u"),
    ('ü', "u"),
    ('ý', "y"),
    ('ÿ', "y"),
];

/// Lower case, accents folded.
pub fn key(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match FOLDS.iter().find(|(from, _)| *from == c) {
            Some((_, to)) => out.push_str(to),
            None => out.push(c),
        }
    }
    out
}

/// What a request is found by: its reference, the requester's names and
/// e-mail address.
pub fn text_of(
    reference: &str,
    first: Option<&str>,
    last: Option<&str>,
    email: Option<&str>,
) -> String {
    key(&format!(
        "{} {} {} {}",
        reference,
        first.unwrap_or(""),
        last.unwrap_or(""),
        email.unwrap_or("")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_accents_fold_away() {
        assert_eq!(key("Zoé LEFÈVRE"), "zoe lefevre");
        assert_eq!(key("Œuvre Ærø Ñandú Çà"), "oeuvre aero nandu ca");
        assert_eq!(key("person3@EXAMPLE.org"), "person3@example.org");
        assert_eq!(key("100%_\\"), "100%_\\");
    }

    #[test]
    fn the_text_holds_reference_names_and_address() {
        assert_eq!(
            text_of(
                "DR-AB12",
                Some("Zoé"),
                Some("Lefèvre"),
                Some("Zoe@Example.org")
            ),
            "dr-ab12 zoe lefevre zoe@example.org"
        );
        assert_eq!(text_of("DR-AB12", None, None, None), "dr-ab12   ");
    }
}
