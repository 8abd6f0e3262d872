//! Each tenant's face, made once at start from its configuration: its logo
//! (the file read and checked here, kept in memory, never read again) and
//! the stylesheet of its accent colour. Pages serve both from memory,
//! with a version in their address so that browsers may keep them.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use actix_web::web::Bytes;
use sha2::{Digest, Sha256};

use crate::config::{ConfigError, TenantConfig};

/// A file served from memory.
#[derive(Debug, Clone)]
pub struct Asset {
    pub bytes: Bytes,
    pub content_type: &'static str,
    /// A digest of the bytes: the `ETag`, and the `?v=` of its address.
    pub version: String,
}

impl Asset {
    fn new(bytes: Vec<u8>, content_type: &'static str) -> Self {
        let digest = Sha256::digest(&bytes);
        let version = hex::encode(&digest[..8]);
        Self {
            bytes: Bytes::from(bytes),
            content_type,
            version,
        }
    }

    pub fn is_svg(&self) -> bool {
        self.content_type == SVG
    }
}

/// A tenant's logo and accent stylesheet, when it declares them.
#[derive(Debug, Clone, Default)]
pub struct Theme {
    pub logo: Option<Asset>,
    /// `:root { --accent: …; --accent-soft: …; }`
    pub css: Option<Asset>,
}

const SVG: &str = "image/svg+xml";

/// The theme of each configured tenant, by slug: logos read from disk
/// (each at most `max_logo_bytes`) and checked to be images. A logo that
/// cannot be read, is too large or is no image stops the start, naming
/// `tenants.SLUG.theme.logo`.
pub fn load(
    configured: &BTreeMap<String, TenantConfig>,
    max_logo_bytes: usize,
) -> Result<HashMap<String, Arc<Theme>>, ConfigError> {
    let mut themes = HashMap::new();
    for (slug, tenant) in configured {
        let logo = match &tenant.theme.logo {
            Some(path) => Some(
                read_logo(path, max_logo_bytes)
                    .map_err(|why| ConfigError(format!("`tenants.{slug}.theme.logo` {why}")))?,
            ),
            None => None,
        };
        let css = tenant.theme.accent().map(|accent| {
            let css = format!(
                ":root {{ --accent: {}; --accent-soft: {}; }}\n",
                accent.css(),
                accent.soft().css()
            );
            Asset::new(css.into_bytes(), "text/css; charset=utf-8")
        });
        themes.insert(slug.clone(), Arc::new(Theme { logo, css }));
    }
    Ok(themes)
}

fn read_logo(path: &Path, max_bytes: usize) -> Result<Asset, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read ({shown}: {e})"))?;
    let mut bytes = Vec::new();
    file.take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read ({shown}: {e})"))?;
    if bytes.len() > max_bytes {
        return Err(format!(
            "({shown}) is larger than limits.max_logo_bytes ({max_bytes} bytes)"
        ));
    }
    match image_type(&bytes) {
        Ok(content_type) => Ok(Asset::new(bytes, content_type)),
        Err(why) => Err(format!("({shown}) is not an image: {why}")),
    }
}

/// The type of an image by its bytes: PNG, JPEG, WebP, or an SVG document
/// (its root element `<svg>` in the SVG namespace, no script, no DTD of
/// its own).
pub fn image_type(bytes: &[u8]) -> Result<&'static str, &'static str> {
    const EXPECTED: &str = "a logo must be a PNG, JPEG, WebP or SVG file";
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok("image/png");
    }
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Ok("image/jpeg");
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Ok("image/webp");
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(EXPECTED);
    };
    let Some(root) = svg_root(text.strip_prefix('\u{feff}').unwrap_or(text)) else {
        return Err(EXPECTED);
    };
    if !root.contains("http://www.w3.org/2000/svg") {
        return Err("an SVG logo's <svg> needs xmlns=\"http://www.w3.org/2000/svg\"");
    }
    if text.to_ascii_lowercase().contains("<script") {
        return Err("an SVG logo must hold no script");
    }
    Ok(SVG)
}

/// The start tag of the root element when it is `<svg …>`, after the XML
/// declaration, comments and a DOCTYPE without internal subset.
fn svg_root(mut rest: &str) -> Option<&str> {
    loop {
        rest = rest.trim_start();
        let skip_past = |rest: &str, open: &str, close: &str| -> Option<usize> {
            rest.starts_with(open)
                .then(|| rest.find(close).map(|i| i + close.len()))
                .flatten()
        };
        if let Some(end) = skip_past(rest, "<?", "?>").or_else(|| skip_past(rest, "<!--", "-->")) {
            rest = &rest[end..];
        } else if rest.len() >= 9 && rest[..9].eq_ignore_ascii_case("<!doctype") {
            let end = rest.find('>')?;
            if rest[..end].contains('[') {
                return None;
            }
            rest = &rest[end + 1..];
        } else {
            break;
        }
    }
    let after = rest.strip_prefix("<svg")?;
    if !after.starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/') {
        return None;
    }
    Some(&rest[..rest.find('>')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVG_LOGO: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>"#;

    #[test]
    fn images_by_their_bytes() {
        assert_eq!(
            image_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Ok("image/png")
        );
        assert_eq!(
            image_type(&[0xff, 0xd8, 0xff, 0xe0, 0, 0x10]),
            Ok("image/jpeg")
        );
        assert_eq!(image_type(b"RIFF\x24\0\0\0WEBPVP8 "), Ok("image/webp"));
        assert_eq!(image_type(SVG_LOGO.as_bytes()), Ok(SVG));
        let with_prolog = format!(
            "\u{feff}<?xml version=\"1.0\"?>\n<!-- logo -->\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n{SVG_LOGO}"
        );
        assert_eq!(image_type(with_prolog.as_bytes()), Ok(SVG));
    }

    #[test]
    fn what_is_no_logo() {
        for not_one in [
            &b"%PDF-1.7"[..],
            b"",
            b"GIF89a",
            b"<html><svg xmlns=\"http://www.w3.org/2000/svg\"></svg></html>",
            b"<svgx xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"<!DOCTYPE svg [<!ENTITY a \"b\">]><svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"\xff\xfe<\0s\0v\0g\0",
        ] {
            assert!(image_type(not_one).is_err(), "{not_one:?}");
        }
        assert!(image_type(b"<svg viewBox=\"0 0 1 1\"></svg>")
            .unwrap_err()
            .contains("xmlns"));
        let scripted = SVG_LOGO.replace("<rect", "<script>alert(1)</script><rect");
        assert!(image_type(scripted.as_bytes())
            .unwrap_err()
            .contains("script"));
    }
}
