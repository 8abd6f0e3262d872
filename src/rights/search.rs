//! The DPO's search: a request is found by the beginnings of the words of
//! its reference, the requester's names and e-mail address, lower case and
//! without accents, so that `zoe` finds « Zoé », `lef` « Lefèvre » and
//! `person42@` the address `person42@example.org`. Each word is a row of
//! `request_words` (a b-tree on the word answers a prefix as a range),
//! written with the request and deleted by the database when the retention
//! erases the search text. The migration `2026-12-01-000008_queue_speed`
//! folds and splits the rows written before it the same way (keep the two
//! in step: the table of folds, splitting on spaces, then name parts).

use std::cmp::Ordering;
use std::collections::BTreeSet;

use diesel::prelude::*;

use super::store::{filtered, QueueFilter, QueueRow, Sort};
use crate::db::schema::{request_words as words, rights_requests as requests};
use crate::db::DbConnection;

/// Words of a query beyond this many are ignored.
pub const MAX_TERMS: usize = 8;

/// Within a word (not an address), what separates the parts of a
/// compound name: `jean-pierre`, `d'artagnan`.
const NAME_PARTS: &[char] = &['-', '\'', '’'];

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

/// The words a folded text is found by: each word between spaces, and the
/// parts of compound words that are not e-mail addresses.
pub fn words(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for token in text.split(' ').filter(|t| !t.is_empty()) {
        out.insert(token.to_owned());
        if !token.contains('@') {
            for part in token.split(NAME_PARTS).filter(|p| !p.is_empty()) {
                out.insert(part.to_owned());
            }
        }
    }
    out
}

/// What a query looks for: the beginnings of words, all of them.
pub fn terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for term in key(query).split_whitespace() {
        if !terms.iter().any(|t| t == term) && terms.len() < MAX_TERMS {
            terms.push(term.to_owned());
        }
    }
    terms
}

/// Records the words a request is found by, in its transaction.
pub fn index(conn: &mut DbConnection, request_id: &str, text: &str) -> QueryResult<()> {
    let rows: Vec<_> = words(text)
        .into_iter()
        .map(|w| (words::word.eq(w), words::request_id.eq(request_id)))
        .collect();
    crate::on_backend!(conn, |c| diesel::insert_into(words::table)
        .values(&rows)
        .execute(c))?;
    Ok(())
}

type Backend = <DbConnection as diesel::Connection>::Backend;

/// The words that begin with `term`: a range of the word index,
/// `term <= word < term + U+10FFFF`.
fn beginning_with(
    term: &str,
) -> diesel::dsl::And<diesel::dsl::GtEq<words::word, String>, diesel::dsl::Lt<words::word, String>>
{
    words::word
        .ge(term.to_owned())
        .and(words::word.lt(format!("{term}\u{10FFFF}")))
}

/// A term whose prefix begins more words than this is joined in the
/// database (`matching`) rather than looked up first: a list of ids that
/// long would cost more to send than the join costs to plan.
const LOOKED_UP_AT_MOST: i64 = 1000;

/// Looks up, term by term, the requests that have a word beginning with
/// it, and keeps those that every such term found. A search is then a
/// query by ids, which PostgreSQL plans in a fraction of the time a join
/// on the words takes; a term too common for that is left to the join.
/// The answer is the same either way.
pub fn resolve(conn: &mut DbConnection, f: &QueueFilter) -> QueryResult<QueueFilter> {
    let mut found: Option<BTreeSet<String>> = None;
    let mut joined = Vec::new();
    for term in &f.search {
        let ids: Vec<String> = words::table
            .filter(beginning_with(term))
            .select(words::request_id)
            .limit(LOOKED_UP_AT_MOST + 1)
            .load(conn)?;
        if i64::try_from(ids.len()).unwrap_or(i64::MAX) > LOOKED_UP_AT_MOST {
            joined.push(term.clone());
            continue;
        }
        let ids: BTreeSet<String> = ids.into_iter().collect();
        found = Some(match found {
            None => ids,
            Some(before) => before.intersection(&ids).cloned().collect(),
        });
        if found.as_ref().is_some_and(BTreeSet::is_empty) {
            break;
        }
    }
    Ok(QueueFilter {
        search: joined,
        found: found.map(|ids| ids.into_iter().collect()),
        ..f.clone()
    })
}

/// A page of a search whose every term was looked up (`resolve`): its
/// matches, at most `LOOKED_UP_AT_MOST`, are read in one statement, then
/// counted, sorted and paged here, rather than read twice by the database,
/// once for the total and once for the page.
pub fn found_page(
    conn: &mut DbConnection,
    f: &QueueFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<QueueRow>, i64)> {
    let mut rows: Vec<QueueRow> = filtered(f).select(QueueRow::as_select()).load(conn)?;
    rows.sort_by(|a, b| in_order(f.sort, a, b));
    let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let page = rows
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .collect();
    Ok((page, total))
}

/// The order of `store::queue`'s `ORDER BY` for each sort; ids, UUIDs,
/// compare the same way as bytes and in any collation.
fn in_order(sort: Sort, a: &QueueRow, b: &QueueRow) -> Ordering {
    match sort {
        Sort::Urgency => b
            .is_open
            .cmp(&a.is_open)
            .then(a.due_at.cmp(&b.due_at))
            .then(a.id.cmp(&b.id)),
        Sort::DueDesc => b.due_at.cmp(&a.due_at).then(b.id.cmp(&a.id)),
        Sort::ReceivedAsc => a.received_at.cmp(&b.received_at).then(a.id.cmp(&b.id)),
        Sort::ReceivedDesc => b.received_at.cmp(&a.received_at).then(b.id.cmp(&a.id)),
    }
}

/// Keeps the requests that have, for every term, a word beginning with it.
pub fn matching(
    mut q: requests::BoxedQuery<'static, Backend>,
    terms: &[String],
) -> requests::BoxedQuery<'static, Backend> {
    for term in terms {
        let ids = words::table
            .filter(beginning_with(term))
            .select(words::request_id);
        q = q.filter(requests::id.eq_any(ids));
    }
    q
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

    #[test]
    fn words_are_split_on_spaces_then_names_on_hyphens_and_apostrophes() {
        let w = words("dr-ab12 jean-pierre d’artagnan marie claire j-p.d'a@example.org ");
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        assert_eq!(
            w,
            [
                "ab12",
                "artagnan",
                "claire",
                "d",
                "dr",
                "dr-ab12",
                "d’artagnan",
                "j-p.d'a@example.org",
                "jean",
                "jean-pierre",
                "marie",
                "pierre",
            ]
        );
    }

    #[test]
    fn terms_are_folded_words_once_each_and_few() {
        assert_eq!(terms("  Zoé  LEFÈVRE zoe "), ["zoe", "lefevre"]);
        assert_eq!(terms("a b c d e f g h i j").len(), MAX_TERMS);
        assert!(terms(" ").is_empty());
    }
}
