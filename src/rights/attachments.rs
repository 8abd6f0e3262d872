//! What the DPO may attach to an answer: any file but a program or a page
//! a browser would run, refused by its bytes and by its name (either is
//! enough), and its content type read from its bytes, so that what the
//! requester downloads is what it says.

use super::documents::{display_name_or, sniff};

/// Names that run when opened (Windows, scripts, Java) or render as a page.
const FORBIDDEN_EXTENSIONS: &[&str] = &[
    "exe", "dll", "bat", "cmd", "com", "msi", "scr", "ps1", "vbs", "js", "jar", "sh", "html",
    "htm", "xhtml", "svg", "hta",
];

/// The beginnings (after a byte-order mark, white space, an XML
/// declaration and a document type that names neither) by which a browser
/// takes a file for HTML or SVG, lower case; a tag followed by white space,
/// `>` or `/` (or the end).
const MARKUP: &[&str] = &[
    "<!doctype html",
    "<!doctype svg",
    "<html",
    "<head",
    "<body",
    "<script",
    "<svg",
    "<iframe",
    "<!--",
    "<frameset",
    "<object",
    "<embed",
    "<style",
    "<title",
    "<meta",
    "<link",
    "<img",
    "<a",
    "<div",
    "<p",
    "<h1",
    "<table",
    "<br",
    "<b",
    "<font",
];

/// An attachment accepted: its type as read from its bytes, and its name
/// as it will be shown.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub content_type: &'static str,
    pub filename: String,
}

/// Why an attachment is refused, for the DPO.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// Checks an attachment by its bytes and its name.
pub fn check(name: Option<&str>, bytes: &[u8]) -> Result<Accepted, Refused> {
    if let Some(why) = forbidden_bytes(bytes) {
        return Err(Refused(why));
    }
    let raw = name.unwrap_or("");
    let content_type = content_type(bytes);
    let filename = display_name_or(name, fallback_name(content_type));
    if forbidden_name(raw) || forbidden_name(&filename) {
        return Err(Refused(
            "a program or a web page, by its name (.exe, .bat, .js, .html, .svg…)",
        ));
    }
    Ok(Accepted {
        content_type,
        filename,
    })
}

/// A program or markup, by its first bytes.
fn forbidden_bytes(bytes: &[u8]) -> Option<&'static str> {
    const MACH_O: [[u8; 4]; 5] = [
        [0xFE, 0xED, 0xFA, 0xCE],
        [0xFE, 0xED, 0xFA, 0xCF],
        [0xCE, 0xFA, 0xED, 0xFE],
        [0xCF, 0xFA, 0xED, 0xFE],
        [0xCA, 0xFE, 0xBA, 0xBE],
    ];
    if bytes.starts_with(b"\x7fELF") || bytes.starts_with(b"MZ") {
        return Some("a program (ELF or Windows executable)");
    }
    if MACH_O.iter().any(|magic| bytes.starts_with(magic)) {
        return Some("a program (Mach-O)");
    }
    if bytes.starts_with(b"#!") {
        return Some("a script (#!)");
    }
    if is_markup(bytes) {
        return Some("a web page or an SVG image (HTML, XHTML, SVG)");
    }
    None
}

/// Whether a browser would take the file for HTML, XHTML or SVG.
fn is_markup(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    // UTF-16 text is read as its ASCII bytes (every other byte).
    let text: Vec<u8> = match head {
        [0xFF, 0xFE, rest @ ..] => rest.iter().step_by(2).copied().collect(),
        [0xFE, 0xFF, rest @ ..] => rest.iter().skip(1).step_by(2).copied().collect(),
        [0xEF, 0xBB, 0xBF, rest @ ..] => rest.to_vec(),
        _ => head.to_vec(),
    };
    let lower = text.to_ascii_lowercase();
    let mut at = skip_space(&lower, 0);
    // An XML declaration, processing instructions, and a document type
    // that names neither HTML nor SVG, before the first element.
    loop {
        let rest = &lower[at..];
        if rest.starts_with(b"<?") {
            match find(rest, b"?>") {
                Some(end) => at = skip_space(&lower, at + end + 2),
                None => return false,
            }
        } else if rest.starts_with(b"<!doctype") && !names_markup_doctype(rest) {
            match find(rest, b">") {
                Some(end) => at = skip_space(&lower, at + end + 1),
                None => return false,
            }
        } else {
            break;
        }
    }
    let rest = &lower[at..];
    MARKUP.iter().any(|tag| {
        let tag = tag.as_bytes();
        rest.starts_with(tag)
            && (tag.starts_with(b"<!")
                || rest
                    .get(tag.len())
                    .is_none_or(|c| c.is_ascii_whitespace() || *c == b'>' || *c == b'/'))
    })
}

fn names_markup_doctype(rest: &[u8]) -> bool {
    let after = skip_space(rest, b"<!doctype".len());
    rest[after..].starts_with(b"html") || rest[after..].starts_with(b"svg")
}

fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(|c| c.is_ascii_whitespace()) {
        at += 1;
    }
    at
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A name that runs or renders, however it is written (`RUN.EXE`,
/// `page.html.`, `macro.vbs `: Windows drops trailing dots and spaces).
fn forbidden_name(name: &str) -> bool {
    let name = name
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace() || c.is_control())
        .to_ascii_lowercase();
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| FORBIDDEN_EXTENSIONS.contains(&ext.trim()))
}

/// The content type of the bytes: the identity documents' types, then
/// other common ones, then plain text (UTF-8 without control characters
/// but line breaks, tabs and form feeds), else `application/octet-stream`.
pub fn content_type(bytes: &[u8]) -> &'static str {
    if let Some(known) = sniff(bytes) {
        return known;
    }
    const MAGIC: &[(&[u8], &str)] = &[
        (b"PK\x03\x04", "application/zip"),
        (b"PK\x05\x06", "application/zip"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"\x1f\x8b", "application/gzip"),
        (b"%!PS", "application/postscript"),
        (b"{\\rtf", "application/rtf"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            "application/x-ole-storage",
        ),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
        (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    ];
    if let Some((_, t)) = MAGIC.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return t;
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return "image/webp";
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(text) {
        Ok(s)
            if !s
                .chars()
                .any(|c| c.is_control() && !"\n\r\t\u{c}".contains(c)) =>
        {
            "text/plain"
        }
        _ => "application/octet-stream",
    }
}

fn fallback_name(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "piece-jointe.pdf",
        "image/jpeg" => "piece-jointe.jpg",
        "image/png" => "piece-jointe.png",
        "application/zip" => "piece-jointe.zip",
        "text/plain" => "piece-jointe.txt",
        _ => "piece-jointe",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(name: &str, bytes: &[u8]) -> bool {
        check(Some(name), bytes).is_err()
    }

    #[test]
    fn programs_are_refused_by_their_bytes_whatever_their_name() {
        for bytes in [
            &b"MZ\x90\x00"[..],
            b"\x7fELF\x02\x01",
            b"\xcf\xfa\xed\xfe\x07",
            b"\xca\xfe\xba\xbe",
            b"#!/usr/bin/env python\n",
        ] {
            assert!(refused("rapport.pdf", bytes), "{bytes:?}");
        }
    }

    #[test]
    fn pages_are_refused_by_their_bytes_after_a_mark_or_white_space() {
        for bytes in [
            &b"<!DOCTYPE html><p>x"[..],
            b"\xef\xbb\xbf  \r\n<HTML lang=fr>",
            b"<html>",
            b"\t<ScRiPt>alert(1)</script>",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            b"<?xml version=\"1.0\"?>\n<svg>",
            b"<?xml version=\"1.0\"?><!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\"><svg>",
            b"<?xml version=\"1.0\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0\">",
            b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'>",
            b"<!-- a comment -->",
            b"<iframe src=x>",
            b"\xff\xfe<\x00h\x00t\x00m\x00l\x00>\x00",
        ] {
            assert!(
                refused("notes.txt", bytes),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn other_texts_and_files_pass_with_the_type_of_their_bytes() {
        let ok = |name: &str, bytes: &[u8]| check(Some(name), bytes).unwrap();
        assert_eq!(ok("a.pdf", b"%PDF-1.7").content_type, "application/pdf");
        assert_eq!(
            ok("a.docx", b"PK\x03\x04...").content_type,
            "application/zip"
        );
        assert_eq!(ok("a.csv", b"nom;prenom\n").content_type, "text/plain");
        assert_eq!(ok("a.txt", b"<3 merci").content_type, "text/plain");
        assert_eq!(ok("a.txt", b"a < b > c").content_type, "text/plain");
        assert_eq!(
            ok("data.xml", b"<?xml version=\"1.0\"?><registre/>").content_type,
            "text/plain"
        );
        assert_eq!(
            ok("x.bin", b"\x00\x01\x02").content_type,
            "application/octet-stream"
        );
        assert_eq!(ok("x.bin", b"").content_type, "text/plain");
        assert_eq!(ok("", b"%PDF-1.4").filename, "piece-jointe.pdf");
        assert_eq!(ok("../../etc/passwd", b"x").filename, "passwd");
        assert_eq!(
            ok("Réponse signée.pdf", b"%PDF-").filename,
            "Réponse signée.pdf"
        );
    }

    #[test]
    fn programs_and_pages_are_refused_by_their_name_however_written() {
        for name in [
            "setup.exe",
            "SETUP.EXE",
            "lib.dll",
            "run.bat",
            "run.cmd",
            "x.com",
            "x.msi",
            "x.scr",
            "x.ps1",
            "x.vbs ",
            "x.js",
            "x.jar",
            "x.sh",
            "page.html.",
            "page.htm",
            "page.xhtml",
            "dessin.svg",
            "x.hta",
            "dossier\\run.exe",
        ] {
            assert!(refused(name, b"plain text"), "{name}");
        }
        assert!(!refused("exe", b"plain text"));
        assert!(!refused("rapport.exe.pdf", b"%PDF-1.4"));
    }
}
