//! HTTPS on the SQS port of a real cluster: the Rust AWS SDK trusting the development CA
//! works on every node; a client trusting another CA and plain HTTP are refused; TLS 1.2
//! and 1.3 clients reach the health endpoints; a failed or stalled handshake leaves other
//! connections alone; and a certificate rotated on disk is served to new connections
//! while open ones carry on (a half-written rotation keeps the last good certificate).

use aws_sdk_sqs::error::DisplayErrorContext;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, StreamOwned};
use sqsraft_e2e::cluster::{Cluster, DEV_ACCESS_KEY, DEV_SECRET_KEY, sqs_identity};
use sqsraft_e2e::pki::Ca;
use sqsraft_e2e::sdk;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

type Tls = StreamOwned<rustls::ClientConnection, TcpStream>;

/// A rustls client trusting `ca_pem` and speaking only `versions`.
fn client_config(
    ca_pem: &[u8],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(der.expect("CA PEM")).expect("CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Every connection a full handshake: a resumed session shows the certificate of the
    // session it resumes, not the one the server would present now.
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// A finished TLS connection to `port` on 127.0.0.1.
fn connect(port: u16, config: Arc<ClientConfig>) -> std::io::Result<Tls> {
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let conn = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// The leaf certificate the server presented.
fn presented(tls: &Tls) -> Vec<u8> {
    tls.conn.peer_certificates().expect("peer certificates")[0].to_vec()
}

/// `GET path` over a kept-alive HTTP/1.1 connection; returns the status code and body.
fn get(tls: &mut Tls, path: &str) -> (u16, String) {
    write!(tls, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").expect("write request");
    let mut reader = BufReader::new(tls);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {line:?}"));
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("content-length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_clients_trusting_the_ca_are_served_and_others_refused() {
    let (_dir, cluster) = Cluster::start_https_in_temp(3, &[]).expect("start cluster");
    let ca_pem = std::fs::read(cluster.sqs_ca_file().expect("HTTPS")).expect("CA bundle");
    for node in &cluster.nodes {
        assert!(
            node.endpoint().starts_with("https://"),
            "{}",
            node.endpoint()
        );
    }

    // The Rust SDK over HTTPS, one node creating, another sending, a third receiving.
    let url = cluster
        .sdk_client(1)
        .create_queue()
        .queue_name("tls")
        .send()
        .await
        .expect("create over HTTPS")
        .queue_url
        .unwrap_or_default();
    assert!(url.starts_with(&cluster.nodes[0].endpoint()), "{url}");
    cluster
        .sdk_client(2)
        .send_message()
        .queue_url(&url)
        .message_body("over TLS")
        .send()
        .await
        .expect("send over HTTPS");
    let received = cluster
        .sdk_client(3)
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .send()
        .await
        .expect("receive over HTTPS");
    let bodies: Vec<_> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .collect();
    assert_eq!(bodies, ["over TLS"]);

    // An SDK client trusting another CA fails the handshake.
    let other = Ca::generate("another CA").expect("CA");
    let stranger = sdk::https_client(
        &cluster.nodes[0].endpoint(),
        other.cert_pem().as_bytes(),
        DEV_ACCESS_KEY,
        DEV_SECRET_KEY,
    )
    .expect("client");
    let err = stranger
        .list_queues()
        .send()
        .await
        .expect_err("untrusted server certificate");
    let chain = format!("{:?}", DisplayErrorContext(&err));
    assert!(chain.contains("UnknownIssuer"), "{chain}");

    // Plain HTTP to the HTTPS port: the SDK gets no HTTP answer at all.
    let plain = cluster.nodes[0]
        .endpoint()
        .replacen("https://", "http://", 1);
    let err = sdk::client(&plain, DEV_ACCESS_KEY, DEV_SECRET_KEY)
        .list_queues()
        .send()
        .await
        .expect_err("plain HTTP to an HTTPS port");
    assert!(
        err.raw_response().is_none(),
        "no HTTP response: {:?}",
        DisplayErrorContext(&err)
    );

    // TLS 1.2 and 1.3 clients reach the health endpoints; a client of another CA does not.
    let port = cluster.nodes[1].sqs_port;
    for (version, expected) in [
        (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
    ] {
        let mut tls = blocking(|| connect(port, client_config(&ca_pem, &[version]))).expect("TLS");
        assert_eq!(tls.conn.protocol_version(), Some(expected));
        for path in ["/healthz", "/readyz", "/cluster"] {
            let (status, body) = blocking(|| get(&mut tls, path));
            assert_eq!(status, 200, "{path}: {body}");
        }
    }
    let refused = blocking(|| {
        connect(
            port,
            client_config(other.cert_pem().as_bytes(), &[&rustls::version::TLS13]),
        )
    });
    let err = refused
        .map(|_| ())
        .expect_err("untrusted server certificate");
    assert!(format!("{err}").contains("UnknownIssuer"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotated_certificate_is_served_to_new_connections_and_bad_handshakes_stay_alone() {
    let (_dir, cluster) = Cluster::start_https_in_temp(1, &[]).expect("start cluster");
    let tls_dir = cluster.sqs_tls.clone().expect("HTTPS");
    let ca_pem = std::fs::read(tls_dir.ca_file()).expect("CA bundle");
    let port = cluster.nodes[0].sqs_port;
    let config = client_config(&ca_pem, &[&rustls::version::TLS13]);
    let client = cluster.sdk_client(1);
    client
        .create_queue()
        .queue_name("before")
        .send()
        .await
        .expect("create");

    // A stranger that stalls mid-handshake and one that sends garbage.
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stalled
        .write_all(&[0x16, 0x03, 0x01])
        .expect("partial record");
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    garbage
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("cleartext request");
    garbage
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = garbage.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "no HTTP answer in cleartext: {:?}",
        String::from_utf8_lossy(&answer)
    );

    let mut open = blocking(|| connect(port, config.clone())).expect("TLS");
    let original = presented(&open);
    assert_eq!(blocking(|| get(&mut open, "/healthz")).0, 200);

    // Rotate: a new certificate and key of the same CA.
    let name = sqs_identity(1);
    let ca = tls_dir.ca().expect("CA");
    let rotated = ca
        .issue_server(&name, &["127.0.0.1".to_string()])
        .expect("certificate");
    tls_dir.write(&name, &rotated).expect("rotate");
    let rotated_der = CertificateDer::from_pem_slice(rotated.cert_pem.as_bytes())
        .expect("PEM")
        .to_vec();
    assert_ne!(rotated_der, original);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut fresh = blocking(|| connect(port, config.clone())).expect("TLS after rotation");
    assert_eq!(
        presented(&fresh),
        rotated_der,
        "new connections get the rotated certificate"
    );
    assert_eq!(blocking(|| get(&mut fresh, "/healthz")).0, 200);
    assert_eq!(
        blocking(|| get(&mut open, "/healthz")).0,
        200,
        "the connection opened before the rotation carries on"
    );
    assert_eq!(presented(&open), original);

    // Half a rotation (a new key, the certificate not yet written) keeps the last good pair.
    let next = ca
        .issue_server(&name, &["127.0.0.1".to_string()])
        .expect("certificate");
    std::fs::write(tls_dir.key_file(&name), &next.key_pem).expect("write key only");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let kept = blocking(|| connect(port, config.clone())).expect("TLS mid-rotation");
    assert_eq!(
        presented(&kept),
        rotated_der,
        "the last good certificate is kept"
    );

    // The SDK client made before all this still works, and the stalled stranger did not
    // hold anyone up.
    let listed = client
        .list_queues()
        .send()
        .await
        .expect("list after rotation");
    assert!(listed.queue_urls().iter().any(|u| u.ends_with("/before")));
    drop(stalled);
}
