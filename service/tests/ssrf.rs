//! Callback URLs whose host is an IPv6 form carrying a private IPv4 address (NAT64, 6to4, Teredo,
//! IPv4-compatible, IPv4-mapped) are refused at submission with 422 at `callbackUrl`, over real HTTP.

use crate::common;

use common::{assert_error_body, detail_paths, tiny_project, Server};
use serde_json::json;

#[test]
fn ipv6_forms_of_private_ipv4_callbacks_are_refused_at_submission() {
    let dir = tempfile::tempdir().unwrap();
    // No workers: nothing renders, so an accepted job would only wait.
    let server = Server::start(dir.path(), &[("MAX_CONCURRENT_RENDERS", "0")]);
    let pid = server.create_project(&tiny_project("u1", 1.0, 10.0));
    for url in [
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "http://[64:ff9b:1::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[2001:0:808:808::5601:5601]/",
        "http://[::a9fe:a9fe]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[::ffff:127.0.0.1]:8080/x",
        "https://[64:ff9b::10.0.0.1]/hook",
    ] {
        let (status, body) = server.post(
            "/api/v1/render/jobs",
            &json!({"projectId": pid, "callbackUrl": url}),
        );
        assert_error_body(status, &body, 422, "/api/v1/render/jobs");
        assert_eq!(detail_paths(&body), vec!["callbackUrl"], "{url}: {body}");
    }
    // The same forms with a public IPv4 inside are accepted.
    for url in [
        "http://[64:ff9b::808:808]/hook",
        "http://[2002:808:808::1]/hook",
    ] {
        server.submit(&json!({"projectId": pid, "callbackUrl": url}));
    }
}
