//! Caption files: SRT and WebVTT parsed into [`Cue`]s, with WebVTT word timestamps
//! (`<00:00:01.500>word`) kept as the cues' word starts. Malformed input is an error naming the
//! line; styling tags (`<i>`, `<c.x>`, `<v Name>`) and SRT/ASS overrides (`{\an8}`) are dropped.

use super::text_style::{Cue, CueWord};

/// A caption file could not be read: 1-based line and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CaptionError {
    pub line: usize,
    pub message: String,
}

/// Largest caption file we read, in bytes.
pub const MAX_CAPTION_BYTES: u64 = 8 * 1024 * 1024;
/// Most cues per captions layer.
pub const MAX_CUES: usize = 20_000;

fn err(line: usize, message: impl Into<String>) -> CaptionError {
    CaptionError {
        line,
        message: message.into(),
    }
}

/// Parses SRT or WebVTT (chosen by the `WEBVTT` header).
pub fn parse(content: &str) -> Result<Vec<Cue>, CaptionError> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let lines: Vec<&str> = content
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let vtt = lines.first().is_some_and(|l| {
        l.starts_with("WEBVTT") && (l.len() == 6 || l[6..].starts_with([' ', '\t']))
    });
    let cues = if vtt {
        parse_blocks(&lines, true)?
    } else {
        parse_blocks(&lines, false)?
    };
    if cues.len() > MAX_CUES {
        return Err(err(lines.len(), format!("more than {MAX_CUES} cues")));
    }
    Ok(cues)
}

/// Blocks separated by blank lines. `vtt`: skip the header block and NOTE/STYLE/REGION blocks;
/// the identifier line is optional. SRT: a numeric index line, then the timing line.
fn parse_blocks(lines: &[&str], vtt: bool) -> Result<Vec<Cue>, CaptionError> {
    let mut cues = Vec::new();
    let mut i = 0;
    if vtt {
        // The header block runs to the first blank line.
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
    }
    while i < lines.len() {
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let block_start = i;
        let mut end = i;
        while end < lines.len() && !lines[end].trim().is_empty() {
            end += 1;
        }
        let block = &lines[block_start..end];
        i = end;
        let first = block[0].trim();
        if vtt && (first.starts_with("NOTE") || first == "STYLE" || first == "REGION") {
            continue;
        }
        // The timing line: first or second of the block.
        let t = if block[0].contains("-->") {
            0
        } else if block.len() > 1 && block[1].contains("-->") {
            if !vtt && first.parse::<u64>().is_err() {
                return Err(err(
                    block_start + 1,
                    format!("expected a cue number, found `{}`", clip(first)),
                ));
            }
            1
        } else {
            return Err(err(
                block_start + 1 + usize::from(block.len() > 1),
                "expected a timing line `00:00:01,000 --> 00:00:02,000`",
            ));
        };
        let line_no = block_start + t + 1;
        let (start, end_t) = parse_timing(block[t], vtt).map_err(|m| err(line_no, m))?;
        if end_t <= start {
            return Err(err(line_no, "the cue ends before it starts"));
        }
        let payload = &block[t + 1..];
        let cue = if vtt {
            vtt_payload(payload, start, end_t).map_err(|(k, m)| err(line_no + 1 + k, m))?
        } else {
            Cue {
                start,
                end: end_t,
                text: payload
                    .iter()
                    .map(|l| strip_markup(l))
                    .collect::<Vec<_>>()
                    .join("\n"),
                words: Vec::new(),
            }
        };
        cues.push(cue);
        if cues.len() > MAX_CUES {
            return Err(err(line_no, format!("more than {MAX_CUES} cues")));
        }
    }
    Ok(cues)
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

fn parse_timing(line: &str, vtt: bool) -> Result<(f64, f64), String> {
    let (a, rest) = line
        .split_once("-->")
        .ok_or_else(|| "expected `-->` in the timing line".to_string())?;
    // WebVTT cue settings follow the end time.
    let b = rest.split_whitespace().next().unwrap_or("");
    Ok((timestamp(a.trim(), vtt)?, timestamp(b, vtt)?))
}

/// `HH:MM:SS,mmm` (SRT; `.` accepted too) or `[HH:]MM:SS.mmm` (WebVTT), in seconds.
fn timestamp(s: &str, vtt: bool) -> Result<f64, String> {
    let bad = || format!("malformed timestamp `{}`", clip(s));
    let (hms, frac) = s.split_once([',', '.']).ok_or_else(bad)?;
    let parts: Vec<&str> = hms.split(':').collect();
    let digits = |p: &str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
    if !(2..=3).contains(&parts.len()) || (!vtt && parts.len() != 3) {
        return Err(bad());
    }
    if !parts.iter().all(|p| digits(p)) || frac.len() != 3 || !digits(frac) {
        return Err(bad());
    }
    let nums: Vec<f64> = parts
        .iter()
        .map(|p| p.parse::<f64>().unwrap_or(0.0))
        .collect();
    let (h, m, sec) = match nums[..] {
        [h, m, s] => (h, m, s),
        [m, s] => (0.0, m, s),
        _ => return Err(bad()),
    };
    if m >= 60.0 || sec >= 60.0 {
        return Err(bad());
    }
    Ok(h * 3600.0 + m * 60.0 + sec + frac.parse::<f64>().unwrap_or(0.0) / 1000.0)
}

/// Removes `<...>` tags, `{\...}` overrides and decodes the common entities.
fn strip_markup(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '<' => {
                for d in chars.by_ref() {
                    if d == '>' {
                        break;
                    }
                }
            }
            '{' if chars.peek() == Some(&'\\') => {
                for d in chars.by_ref() {
                    if d == '}' {
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// A WebVTT payload: text with tags dropped and `<timestamp>` tags turned into word starts.
/// Errors carry the payload line index.
fn vtt_payload(payload: &[&str], start: f64, end: f64) -> Result<Cue, (usize, String)> {
    // (text, time the text from here on starts)
    let mut segments: Vec<(String, f64)> = vec![(String::new(), start)];
    let mut timed = false;
    for (k, line) in payload.iter().enumerate() {
        if k > 0 {
            segments.last_mut().expect("one segment").0.push('\n');
        }
        let mut rest = *line;
        while let Some(open) = rest.find('<') {
            segments
                .last_mut()
                .expect("one segment")
                .0
                .push_str(&rest[..open]);
            let Some(close) = rest[open..].find('>') else {
                return Err((k, "unclosed `<` tag".to_string()));
            };
            let tag = &rest[open + 1..open + close];
            if tag.starts_with(|c: char| c.is_ascii_digit()) {
                let t = timestamp(tag, true).map_err(|m| (k, m))?;
                if t < start || t > end {
                    return Err((k, format!("word timestamp <{tag}> is outside its cue")));
                }
                if t < segments.last().expect("one segment").1 {
                    return Err((k, format!("word timestamp <{tag}> goes back in time")));
                }
                segments.push((String::new(), t));
                timed = true;
            }
            rest = &rest[open + close + 1..];
        }
        segments.last_mut().expect("one segment").0.push_str(rest);
    }
    let decode = |s: &str| strip_markup(s);
    let text: String = segments.iter().map(|(s, _)| decode(s)).collect();
    let mut words = Vec::new();
    if timed {
        // Each segment's words share its time span evenly.
        for (j, (seg, t0)) in segments.iter().enumerate() {
            let t1 = segments.get(j + 1).map_or(end, |s| s.1);
            let seg = decode(seg);
            let ws: Vec<&str> = seg.split_whitespace().collect();
            for (k, w) in ws.iter().enumerate() {
                words.push(CueWord {
                    text: w.to_string(),
                    start: t0 + (t1 - t0) * k as f64 / ws.len() as f64,
                });
            }
        }
        // A word split by a timestamp inside it counts once; keep the pairing only when it holds.
        if words.len() != text.split_whitespace().count() {
            words.clear();
        }
    }
    Ok(Cue {
        start,
        end,
        text,
        words,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_cues_and_markup() {
        let srt = "1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> world\r\nline two\r\n\r\n2\n00:00:03,000 --> 00:00:04,000\n{\\an8}Top &amp; more\n";
        let cues = parse(srt).unwrap();
        assert_eq!(cues.len(), 2);
        assert_eq!((cues[0].start, cues[0].end), (1.0, 2.5));
        assert_eq!(cues[0].text, "Hello world\nline two");
        assert_eq!(cues[1].text, "Top & more");
    }

    #[test]
    fn vtt_word_timestamps() {
        let vtt = "WEBVTT\n\nNOTE a comment\n\nid-1\n00:01.000 --> 00:03.000 align:center\n<v Bob>one <00:01.500>two <00:02.000><c>three</c>\n";
        let cues = parse(vtt).unwrap();
        assert_eq!(cues.len(), 1);
        assert_eq!(cues[0].text, "one two three");
        let starts: Vec<f64> = cues[0].words.iter().map(|w| w.start).collect();
        assert_eq!(starts, vec![1.0, 1.5, 2.0]);
        assert_eq!(cues[0].word_starts(), starts);
    }

    #[test]
    fn even_split_without_word_times() {
        let cues = parse("1\n00:00:00,000 --> 00:00:03,000\na b c\n").unwrap();
        assert_eq!(cues[0].word_starts(), vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn malformed_files_name_the_line() {
        let cases = [
            ("1\n00:00:01,000 -> 00:00:02,000\nhi\n", 2),
            (
                "1\n00:00:01,000 --> 00:00:02,000\nhi\n\nx\n00:00:03,000 --> 00:00:04,000\nyo\n",
                5,
            ),
            (
                "1\n00:00:01,000 --> 00:00:02,000\nhi\n\n2\n00:00:03,000 --> 00:00:0x,000\nyo\n",
                6,
            ),
            ("WEBVTT\n\n00:02.000 --> 00:01.000\nbackwards\n", 3),
            ("WEBVTT\n\n00:01.000 --> 00:02.000\nok <00:05.000>late\n", 4),
            ("WEBVTT\n\n00:01.000 --> 00:02.000\nfine\n<b unclosed\n", 5),
        ];
        for (text, line) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }
}
