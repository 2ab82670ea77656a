//! Completion callbacks: the final job status POSTed to the job's `callbackUrl`, signed with
//! `X-Signature: sha256=<hex HMAC-SHA256 of the body>`, retried with exponential backoff.
//!
//! Only http(s) URLs are accepted. Hosts that are or resolve to loopback, private, link-local or
//! other non-public addresses are refused unless `ALLOW_PRIVATE_CALLBACKS` is set; the address that
//! was checked is the one connected to (no second DNS lookup), and redirects are not followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::Url;

use crate::model::{CallbackState, JobRecord, JobStatus};
use crate::store::JobStore;

/// Header carrying the body signature.
pub const SIGNATURE_HEADER: &str = "X-Signature";

/// `sha256=<hex>` of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether an address is not on the public internet. The one check of callback hosts, used on the
/// URL at submission and on every resolved address at delivery.
///
/// IPv6 forms that carry an IPv4 address are judged by that address: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`), 6to4 (`2002::/16`, bits 16–47) and Teredo
/// (`2001::/32`: the server in bits 32–63 and the client in the last 32 bits XOR `0xffffffff`, both
/// judged). The local-use NAT64 prefix `64:ff9b:1::/48` (RFC 8215) is refused whole: where its IPv4
/// sits depends on a locally chosen prefix length, and it only reaches what the local translator does.
/// Otherwise only global unicast (`2000::/3`) outside the special-purpose `2001::/23` and the
/// documentation `2001:db8::/32` is public.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_non_public_v4(v4),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Embedded::V4(list) => list.iter().any(|v4| is_non_public_v4(*v4)),
            Embedded::Refuse => true,
            Embedded::None => {
                let s = v6.segments();
                (s[0] & 0xe000) != 0x2000 // outside global unicast 2000::/3
                    || (s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23 special purpose
                    || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
            }
        },
    }
}

fn is_non_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_documentation()
        || v4.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || a >= 240
}

/// What an IPv6 address says about an IPv4 one inside it.
enum Embedded {
    /// Not a form that carries an IPv4 address.
    None,
    /// The IPv4 address(es) the traffic ends up at.
    V4(Vec<Ipv4Addr>),
    /// A translation prefix whose target cannot be told from the address.
    Refuse,
}

fn embedded_ipv4(v6: Ipv6Addr) -> Embedded {
    let s = v6.segments();
    let o = v6.octets();
    let last32 = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        // IPv4-mapped `::ffff:a.b.c.d` and IPv4-compatible `::a.b.c.d` (`::1` and `::` land on
        // 0.0.0.x, which is refused).
        return Embedded::V4(vec![last32]);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Embedded::V4(vec![last32]); // NAT64 well-known prefix
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return Embedded::Refuse; // NAT64 local-use prefix
    }
    if s[0] == 0x2002 {
        return Embedded::V4(vec![Ipv4Addr::new(o[2], o[3], o[4], o[5])]); // 6to4
    }
    if s[0] == 0x2001 && s[1] == 0 {
        // Teredo: server IPv4, then the obfuscated client IPv4.
        let server = Ipv4Addr::new(o[4], o[5], o[6], o[7]);
        let client = Ipv4Addr::from(!u32::from(last32));
        return Embedded::V4(vec![server, client]);
    }
    Embedded::None
}

/// Checks a callback URL as given by a client (no DNS lookups): scheme, host, literal addresses.
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, String> {
    if raw.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "scheme `{}` is not allowed (http or https)",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL are not allowed".into());
    }
    match url.host() {
        None => return Err("has no host".into()),
        Some(url::Host::Ipv4(ip)) if !allow_private && is_non_public(IpAddr::V4(ip)) => {
            return Err(format!(
                "address {ip} is private or loopback; callbacks go to public hosts only"
            ));
        }
        Some(url::Host::Ipv6(ip)) if !allow_private && is_non_public(IpAddr::V6(ip)) => {
            return Err(format!(
                "address {ip} is private or loopback; callbacks go to public hosts only"
            ));
        }
        Some(url::Host::Domain(d)) if !allow_private && is_local_name(d) => {
            return Err(format!(
                "host `{d}` is local; callbacks go to public hosts only"
            ));
        }
        _ => {}
    }
    Ok(url)
}

fn is_local_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost"
        || h.ends_with(".localhost")
        || h.ends_with(".local")
        || h.ends_with(".internal")
}

/// Sends callbacks and records the outcome on the job.
pub struct CallbackSender {
    pub secret: Option<String>,
    pub allow_private: bool,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub timeout: Duration,
    pub jobs: Arc<dyn JobStore>,
}

impl CallbackSender {
    /// Delivers `body` (the job's final status, JSON) to the job's callback URL, retrying failures.
    pub async fn deliver(&self, job: &JobRecord, body: Vec<u8>) {
        let Some(raw) = job.spec.callback_url.clone() else {
            return;
        };
        let mut state = CallbackState::default();
        for attempt in 1..=self.max_attempts.max(1) {
            state.attempts = attempt;
            match self.try_once(&raw, &body).await {
                Ok(()) => {
                    state.delivered = true;
                    state.last_error = None;
                    tracing::info!(job_id = %job.job_id, attempt, "callback delivered");
                    break;
                }
                Err(Failure { message, retry }) => {
                    tracing::warn!(job_id = %job.job_id, attempt, error = %message, "callback failed");
                    state.last_error = Some(message);
                    if !retry || attempt == self.max_attempts {
                        break;
                    }
                    tokio::time::sleep(self.retry_base.saturating_mul(1 << (attempt - 1).min(16)))
                        .await;
                }
            }
        }
        let recorded = state.clone();
        let update = self
            .jobs
            .update_job(
                &job.job_id,
                &JobStatus::TERMINAL,
                Box::new(move |j| j.state.callback = Some(recorded.clone())),
            )
            .await;
        if let Err(e) = update {
            tracing::warn!(job_id = %job.job_id, error = %e, "cannot record callback outcome");
        }
    }

    async fn try_once(&self, raw: &str, body: &[u8]) -> Result<(), Failure> {
        let fatal = |message: String| Failure {
            message,
            retry: false,
        };
        let url = check_url(raw, self.allow_private).map_err(fatal)?;
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| Failure {
                message: format!("cannot resolve {host}: {e}"),
                retry: true,
            })?
            .collect();
        if addrs.is_empty() {
            return Err(Failure {
                message: format!("{host} has no addresses"),
                retry: true,
            });
        }
        if !self.allow_private {
            if let Some(a) = addrs.iter().find(|a| is_non_public(a.ip())) {
                return Err(fatal(format!(
                    "{host} resolves to non-public address {}",
                    a.ip()
                )));
            }
        }
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .resolve_to_addrs(&host, &addrs)
            .build()
            .map_err(|e| fatal(format!("HTTP client: {e}")))?;
        let mut req = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                reqwest::header::USER_AGENT,
                concat!("vrender/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(secret) = &self.secret {
            req = req.header(SIGNATURE_HEADER, sign(secret.as_bytes(), body));
        }
        let resp = req.body(body.to_vec()).send().await.map_err(|e| Failure {
            message: e.to_string(),
            retry: true,
        })?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(Failure {
                message: format!("receiver answered {}", resp.status()),
                retry: true,
            })
        }
    }
}

struct Failure {
    message: String,
    retry: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_policy() {
        for bad in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "http://127.0.0.1/x",
            "http://10.1.2.3/x",
            "http://192.168.0.1/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/x",
            "http://[fd00::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://localhost:8080/x",
            "http://user:pw@example.com/x",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad} must be refused");
        }
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert!(check_url("http://[2606:4700::1111]/hook", false).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/hook", true).is_err());
    }

    /// Each IPv6 form that carries an IPv4 address is judged by it: 169.254.169.254 (a9fe:a9fe),
    /// 10.0.0.1 and 127.0.0.1 are refused in every form, 8.8.8.8 (0808:0808) passes where the form is
    /// routable.
    #[test]
    fn ipv6_forms_are_judged_by_their_ipv4() {
        for bad in [
            "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
            "http://[64:ff9b::10.0.0.1]/",
            "http://[64:ff9b:1::808:808]/",
            "http://[64:ff9b:1:abcd::a9fe:a9fe]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[2002:7f00:1::]/",
            "http://[2002:0a00:0001:1::5]/",
            "http://[::a9fe:a9fe]/",
            "http://[::127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[::ffff:10.0.0.1]/",
            // Teredo: client 169.254.169.254 = !0x5601_5601, server public.
            "http://[2001:0:808:808::5601:5601]/",
            // Teredo: client public (8.8.8.8 = !0xf7f7_f7f7), server private.
            "http://[2001:0:a00:1::f7f7:f7f7]/",
            "http://[2001:db8::1]/",
            "http://[100::1]/",
            "http://[fe80::1]/",
            "http://[fc00::1]/",
            "http://[ff02::1]/",
            "http://[::]/",
            "http://0xa9fea9fe/",
            "http://2852039166/",
            "http://[2001:2::1]/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad} must be refused");
            let url = Url::parse(bad).unwrap();
            let ip: IpAddr = url
                .host_str()
                .unwrap()
                .trim_matches(|c| c == '[' || c == ']')
                .parse()
                .unwrap();
            assert!(is_non_public(ip), "{ip} (delivery check)");
        }
        for good in [
            "http://[64:ff9b::808:808]/",
            "http://[2002:808:808::1]/",
            "http://[::ffff:8.8.8.8]/",
            "http://[2001:0:808:808::f7f7:f7f7]/",
        ] {
            assert!(check_url(good, false).is_ok(), "{good} must pass");
        }
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
