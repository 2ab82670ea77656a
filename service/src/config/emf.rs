//! The `CLOUDWATCH_EMF` setting: where the queue-depth metric lines go ([`crate::emf`] writes
//! them).

/// Where EMF lines are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmfSink {
    Stdout,
    Tcp(String),
    Udp(String),
}

impl EmfSink {
    /// `stdout`, `tcp://HOST:PORT` or `udp://HOST:PORT`.
    pub fn parse(v: &str) -> Result<EmfSink, String> {
        let v = v.trim();
        if v.eq_ignore_ascii_case("stdout") {
            return Ok(EmfSink::Stdout);
        }
        let (scheme, addr) = v
            .split_once("://")
            .ok_or("expected stdout, tcp://HOST:PORT or udp://HOST:PORT")?;
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return Err(format!("`{addr}` is not HOST:PORT"));
        }
        match scheme.to_ascii_lowercase().as_str() {
            "tcp" => Ok(EmfSink::Tcp(addr.to_string())),
            "udp" => Ok(EmfSink::Udp(addr.to_string())),
            _ => Err(format!(
                "unknown scheme `{scheme}`: expected tcp:// or udp://"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks_parse() {
        assert_eq!(EmfSink::parse("stdout"), Ok(EmfSink::Stdout));
        assert_eq!(
            EmfSink::parse("tcp://127.0.0.1:25888"),
            Ok(EmfSink::Tcp("127.0.0.1:25888".into()))
        );
        assert_eq!(
            EmfSink::parse("udp://agent:25888"),
            Ok(EmfSink::Udp("agent:25888".into()))
        );
        for bad in [
            "",
            "stderr",
            "tcp://",
            "tcp://host",
            "tcp://:1",
            "http://h:1",
            "udp://h:0",
        ] {
            assert!(EmfSink::parse(bad).is_err(), "{bad}");
        }
    }
}
