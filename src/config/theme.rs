//! A tenant's face on its pages: its logo (an image file, read once at
//! start by `tenants::theme`) and its accent colour, the colour of links
//! and buttons, which must stay readable as text (WCAG AA).
//!
//! No State design system: the DSFR and the Marianne typeface are reserved
//! to the State's services, so a tenant brings its own colour and logo.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The accent of pages whose tenant declares none (`assets/guichet.css`
/// says the same, and the mail templates use it).
pub const DEFAULT_ACCENT: &str = "#1f4e79";

/// The backgrounds the accent is written on as text: the page's white and
/// the light grey of the footer (`--soft` in `assets/guichet.css`).
const BACKGROUNDS: [(&str, Rgb); 2] = [
    ("white", Rgb(0xff, 0xff, 0xff)),
    ("the footer's light grey #f6f6f6", Rgb(0xf6, 0xf6, 0xf6)),
];

/// The contrast of text with its background that WCAG 2.1 AA asks
/// (criterion 1.4.3; RGAA 3.2).
pub const MIN_CONTRAST: f64 = 4.5;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThemeConfig {
    /// An image file (PNG, JPEG, WebP or SVG, at most
    /// `limits.max_logo_bytes`), shown at the top of its pages; a path
    /// relative to the working directory, or absolute.
    #[serde(default)]
    pub logo: Option<PathBuf>,
    /// `#rrggbb` (or `#rgb`): links, buttons and the header's rule of its
    /// pages and letters; default [`DEFAULT_ACCENT`].
    #[serde(default)]
    pub accent_color: Option<String>,
}

/// A colour of the sRGB space, as CSS writes it in hexadecimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb` or `#rgb`, in either case.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.trim().strip_prefix('#')?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..=i], 16).ok();
        match hex.len() {
            6 => {
                let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
                Some(Self(byte(0)?, byte(2)?, byte(4)?))
            }
            3 => Some(Self(digit(0)? * 17, digit(1)? * 17, digit(2)? * 17)),
            _ => None,
        }
    }

    /// `#rrggbb`, lower case.
    pub fn css(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// The relative luminance of WCAG 2.1.
    fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(self.0) + 0.7152 * linear(self.1) + 0.0722 * linear(self.2)
    }

    /// The contrast ratio of two colours, from 1 to 21.
    pub fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// This colour over white at `share` (0 to 1) of its strength.
    pub fn tint(self, share: f64) -> Rgb {
        let mix = |c: u8| (f64::from(c) * share + 255.0 * (1.0 - share)).round() as u8;
        Rgb(mix(self.0), mix(self.1), mix(self.2))
    }

    /// A light background of this colour on which it stays readable as
    /// text: the strongest tint up to a tenth that keeps the contrast
    /// (white at worst).
    pub fn soft(self) -> Rgb {
        [0.1, 0.08, 0.06, 0.04, 0.02]
            .into_iter()
            .map(|share| self.tint(share))
            .find(|tint| self.contrast(*tint) >= MIN_CONTRAST)
            .unwrap_or(Rgb(0xff, 0xff, 0xff))
    }
}

impl ThemeConfig {
    /// Its accent colour, once checked.
    pub fn accent(&self) -> Option<Rgb> {
        self.accent_color.as_deref().and_then(Rgb::parse)
    }

    /// Checks what can be checked without reading the logo: a colour that
    /// is one and reads as text on the pages' backgrounds, a logo path
    /// that is not empty. The error names the field under `theme`.
    pub fn check(&self) -> Result<(), (String, String)> {
        if let Some(color) = &self.accent_color {
            let Some(rgb) = Rgb::parse(color) else {
                return Err((
                    "theme.accent_color".into(),
                    format!("`{color}` is not a colour: write it #rrggbb, like #1a5c38"),
                ));
            };
            for (name, background) in BACKGROUNDS {
                let ratio = rgb.contrast(background);
                if ratio < MIN_CONTRAST {
                    return Err((
                        "theme.accent_color".into(),
                        format!(
                            "`{color}` is too light to read as text: its contrast with {name} is {:.2}:1, below the {MIN_CONTRAST}:1 WCAG AA asks; choose a darker colour",
                            (ratio * 100.0).floor() / 100.0
                        ),
                    ));
                }
            }
        }
        if self.logo.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err((
                "theme.logo".into(),
                "must be the path of an image file".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_as_css_writes_them() {
        assert_eq!(Rgb::parse("#1A5C38"), Some(Rgb(0x1a, 0x5c, 0x38)));
        assert_eq!(Rgb::parse("#fff"), Some(Rgb(255, 255, 255)));
        assert_eq!(
            Rgb::parse(" #1a5c38 ").map(Rgb::css).as_deref(),
            Some("#1a5c38")
        );
        for not_one in [
            "blue",
            "1a5c38",
            "#1a5c3",
            "#1a5c38ff",
            "#gggggg",
            "#",
            "",
            "#é1a5c",
        ] {
            assert_eq!(Rgb::parse(not_one), None, "{not_one}");
        }
    }

    #[test]
    fn contrast_as_wcag_computes_it() {
        let white = Rgb(255, 255, 255);
        assert!((Rgb(0, 0, 0).contrast(white) - 21.0).abs() < 1e-9);
        assert!((white.contrast(white) - 1.0).abs() < 1e-9);
        // #767676 is the lightest grey that passes AA on white.
        assert!(Rgb(0x76, 0x76, 0x76).contrast(white) >= 4.5);
        assert!(Rgb(0x77, 0x77, 0x77).contrast(white) < 4.5);
    }

    #[test]
    fn an_accent_must_read_as_text() {
        let theme = |c: &str| ThemeConfig {
            logo: None,
            accent_color: Some(c.into()),
        };
        assert!(theme(DEFAULT_ACCENT).check().is_ok());
        assert!(theme("#1a5c38").check().is_ok());
        let (field, why) = theme("#ffcc00").check().unwrap_err();
        assert_eq!(field, "theme.accent_color");
        assert!(why.contains("contrast with white is 1.5"), "{why}");
        // AA on white, not on the footer's grey.
        let (_, why) = theme("#757575").check().unwrap_err();
        assert!(why.contains("light grey"), "{why}");
        let (_, why) = theme("bleu").check().unwrap_err();
        assert!(why.contains("is not a colour"), "{why}");
    }

    #[test]
    fn the_soft_background_keeps_the_accent_readable() {
        for c in ["#1f4e79", "#005f73", "#707070", "#0b6e4f"] {
            let rgb = Rgb::parse(c).unwrap();
            assert!(rgb.contrast(rgb.soft()) >= MIN_CONTRAST, "{c}");
        }
    }
}
