//! Colours as users write them: `#rgb`, `#rrggbb`, `#rrggbbaa`, `rgb(…)`/`rgba(…)`, `transparent`,
//! and a few CSS names. Values are sRGB-encoded and straight (not premultiplied) alpha.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An sRGB-encoded colour with straight alpha, 8 bits per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Color {
    pub r: u8,
    pub g: u8,
    pub b: u8,
    pub a: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid colour `{input}`: expected #rgb, #rrggbb, #rrggbbaa, rgb(r, g, b), rgba(r, g, b, a) or a CSS name")]
pub struct ColorParseError {
    pub input: String,
}

impl Color {
    pub const BLACK: Color = Color::rgb(0, 0, 0);
    pub const WHITE: Color = Color::rgb(255, 255, 255);
    pub const TRANSPARENT: Color = Color {
        r: 0,
        g: 0,
        b: 0,
        a: 0,
    };

    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Color { r, g, b, a: 255 }
    }

    pub const fn rgba(r: u8, g: u8, b: u8, a: u8) -> Self {
        Color { r, g, b, a }
    }

    /// Channels as 0..=1 floats (still sRGB-encoded, straight alpha).
    pub fn to_f32(self) -> [f32; 4] {
        [self.r, self.g, self.b, self.a].map(|c| c as f32 / 255.0)
    }

    /// Premultiplied 0..=1 floats, as the compositor stores colours.
    pub fn premultiplied(self) -> [f32; 4] {
        let [r, g, b, a] = self.to_f32();
        [r * a, g * a, b * a, a]
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.a == 255 {
            write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
        } else {
            write!(
                f,
                "#{:02x}{:02x}{:02x}{:02x}",
                self.r, self.g, self.b, self.a
            )
        }
    }
}

fn hex_nibble(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

impl FromStr for Color {
    type Err = ColorParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = || ColorParseError {
            input: input.to_string(),
        };
        let s = input.trim().to_ascii_lowercase();
        if let Some(hex) = s.strip_prefix('#') {
            let digits: Option<Vec<u8>> = hex.bytes().map(hex_nibble).collect();
            let d = digits.ok_or_else(err)?;
            return match d.len() {
                3 | 4 => {
                    let a = if d.len() == 4 { d[3] * 17 } else { 255 };
                    Ok(Color::rgba(d[0] * 17, d[1] * 17, d[2] * 17, a))
                }
                6 | 8 => {
                    let byte = |i: usize| d[i] * 16 + d[i + 1];
                    let a = if d.len() == 8 { byte(6) } else { 255 };
                    Ok(Color::rgba(byte(0), byte(2), byte(4), a))
                }
                _ => Err(err()),
            };
        }
        if let Some(args) = s.strip_prefix("rgba(").or_else(|| s.strip_prefix("rgb(")) {
            let args = args.strip_suffix(')').ok_or_else(err)?;
            let parts: Vec<&str> = args.split(',').map(str::trim).collect();
            if parts.len() != 3 && parts.len() != 4 {
                return Err(err());
            }
            let mut ch = [0u8; 3];
            for (slot, p) in ch.iter_mut().zip(&parts) {
                let v: f64 = p.parse().map_err(|_| err())?;
                if !(0.0..=255.0).contains(&v) {
                    return Err(err());
                }
                *slot = v.round() as u8;
            }
            let a = match parts.get(3) {
                Some(p) => {
                    let v: f64 = p.parse().map_err(|_| err())?;
                    if !(0.0..=1.0).contains(&v) {
                        return Err(err());
                    }
                    (v * 255.0).round() as u8
                }
                None => 255,
            };
            return Ok(Color::rgba(ch[0], ch[1], ch[2], a));
        }
        let named = match s.as_str() {
            "transparent" => Color::TRANSPARENT,
            "black" => Color::BLACK,
            "white" => Color::WHITE,
            "red" => Color::rgb(255, 0, 0),
            "green" => Color::rgb(0, 128, 0),
            "lime" => Color::rgb(0, 255, 0),
            "blue" => Color::rgb(0, 0, 255),
            "yellow" => Color::rgb(255, 255, 0),
            "cyan" => Color::rgb(0, 255, 255),
            "magenta" => Color::rgb(255, 0, 255),
            "gray" | "grey" => Color::rgb(128, 128, 128),
            "orange" => Color::rgb(255, 165, 0),
            _ => return Err(err()),
        };
        Ok(named)
    }
}

impl Serialize for Color {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Color {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// CSS colour names [`Color`] parses (case-insensitive).
const NAMES: [&str; 13] = [
    "transparent",
    "black",
    "white",
    "red",
    "green",
    "lime",
    "blue",
    "yellow",
    "cyan",
    "magenta",
    "gray",
    "grey",
    "orange",
];

impl schemars::JsonSchema for Color {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Color".into()
    }

    /// A string with the shape of the parser's forms (channel ranges are checked on validation).
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // JSON Schema patterns have no case-insensitive flag: spell both cases of every letter.
        let any_case = |word: &str| -> String {
            word.chars()
                .map(|c| format!("[{}{}]", c, c.to_ascii_uppercase()))
                .collect()
        };
        let names: Vec<String> = NAMES.iter().map(|n| any_case(n)).collect();
        let hex = "#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})";
        let num = r"\s*[0-9]+(\.[0-9]+)?\s*";
        let func = format!(
            r"{}\({num},{num},{num}(,{num})?\)",
            any_case("rgb") + "[aA]?"
        );
        let pattern = format!(r"^\s*({hex}|{func}|{})\s*$", names.join("|"));
        schemars::json_schema!({
            "type": "string",
            "description": "#rgb, #rrggbb, #rrggbbaa, rgb(r, g, b), rgba(r, g, b, a) with a in 0..1, or a CSS name (transparent, black, white, red, green, lime, blue, yellow, cyan, magenta, gray, orange)",
            "pattern": pattern,
            "examples": ["#ff8800", "#00000080", "rgba(0, 0, 0, 0.5)", "white"],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_css_forms() {
        assert_eq!("#f00".parse::<Color>().unwrap(), Color::rgb(255, 0, 0));
        assert_eq!(
            "#10182080".parse::<Color>().unwrap(),
            Color::rgba(0x10, 0x18, 0x20, 0x80)
        );
        assert_eq!(
            "rgba(1, 2, 3, 0.5)".parse::<Color>().unwrap(),
            Color::rgba(1, 2, 3, 128)
        );
        assert_eq!("White".parse::<Color>().unwrap(), Color::WHITE);
        for bad in [
            "",
            "#12",
            "#ggg",
            "rgb(1,2)",
            "rgb(300,0,0)",
            "rgba(0,0,0,2)",
            "nope",
        ] {
            assert!(bad.parse::<Color>().is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn schema_names_parse() {
        for name in NAMES {
            assert!(name.parse::<Color>().is_ok(), "{name}");
            assert!(name.to_uppercase().parse::<Color>().is_ok(), "{name}");
        }
    }

    #[test]
    fn display_round_trips() {
        for c in [Color::rgb(1, 2, 3), Color::rgba(250, 128, 0, 7)] {
            assert_eq!(c.to_string().parse::<Color>().unwrap(), c);
        }
    }
}
