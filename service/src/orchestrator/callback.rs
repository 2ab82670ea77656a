//! Completion callbacks: the final job status POSTed to the job's `callbackUrl`, signed with
//! `X-Signature: sha256=<hex HMAC-SHA256 of the body>`, retried with exponential backoff.
//!
//! Only http(s) URLs are accepted. Hosts that are or resolve to loopback, private, link-local or
//! other non-public addresses are refused unless `ALLOW_PRIVATE_CALLBACKS` is set; the address that
//! was checked is the one connected to (no second DNS lookup), and redirects are not followed.

use std::net::{IpAddr, SocketAddr};
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

/// Whether an address is not on the public internet.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
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
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || v6.is_multicast()
        }
    }
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
        let Some(raw) = job.callback_url.clone() else {
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
                Box::new(move |j| j.callback = Some(recorded.clone())),
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
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/hook", true).is_err());
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
