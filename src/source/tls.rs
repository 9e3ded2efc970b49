//! TLS to database servers with rustls (ring): the settings a source URL asks for ([`Tls`]) and
//! their checks, the client configuration for each mode, the trusted roots (a CA file, or the
//! system's), and plain words for the usual handshake failures.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::check::Checker;

/// How a connection to a source is encrypted and verified (libpq's `sslmode`, MySQL's
/// `ssl-mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The mode.
    pub mode: TlsMode,
    /// PEM file of the CA certificates to trust instead of the system's.
    pub ca: Option<PathBuf>,
    /// PEM file of a client certificate (with `key`).
    pub cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub key: Option<PathBuf>,
}

impl Tls {
    /// No TLS (SQLite files, and the default of nothing).
    pub fn none() -> Tls {
        Tls {
            mode: TlsMode::Disable,
            ca: None,
            cert: None,
            key: None,
        }
    }
}

/// Whether TLS is used and what is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Never TLS (`disable`, `DISABLED`).
    Disable,
    /// TLS when the server offers it, without verifying its certificate (`prefer`, `PREFERRED`).
    Prefer,
    /// TLS or fail, without verifying the certificate (`require`, `REQUIRED`).
    Require,
    /// TLS, with a certificate signed by a trusted CA, whatever name it carries (`verify-ca`,
    /// `VERIFY_CA`).
    VerifyCa,
    /// TLS, with a trusted certificate for the host connected to (`verify-full`,
    /// `VERIFY_IDENTITY`).
    VerifyFull,
}

impl TlsMode {
    /// True when the server's certificate chain is checked.
    pub fn verifies(self) -> bool {
        matches!(self, TlsMode::VerifyCa | TlsMode::VerifyFull)
    }
}

/// What a source URL's TLS parameters ask for, read by the source's driver. The config check
/// then applies the rules every driver shares (a CA file without a mode verifies) and checks
/// that the files exist.
#[derive(Debug)]
pub struct Request {
    /// The mode.
    pub mode: TlsMode,
    /// The URL named the mode (rather than leaving the default).
    pub explicit: bool,
    /// The CA file, as written.
    pub ca: Option<String>,
    /// The client certificate file, as written.
    pub cert: Option<String>,
    /// The client key file, as written.
    pub key: Option<String>,
    /// The parameter names of the CA, certificate and key files, for messages.
    pub names: [&'static str; 3],
    /// Values that are wrong, in words.
    pub problems: Vec<String>,
}

impl Default for Request {
    /// TLS when the server offers it, unverified: what libpq and MySQL clients do by default.
    fn default() -> Request {
        Request {
            mode: TlsMode::Prefer,
            explicit: false,
            ca: None,
            cert: None,
            key: None,
            names: ["ca", "cert", "key"],
            problems: Vec::new(),
        }
    }
}

/// The last value of a URL parameter named one of `names`.
pub fn param<'a>(params: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| names.contains(&k.as_str()))
        .map(|(_, v)| v.as_str())
}

/// The crypto provider: ring, as everywhere in tally.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for `tls` (which must not be `Disable`).
pub fn client_config(tls: &Tls) -> Result<ClientConfig, String> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = if tls.mode.verifies() {
        let roots = Arc::new(roots(tls.ca.as_deref())?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(|e| format!("cannot build the certificate verifier: {e}"))?;
        Arc::new(Verifier {
            webpki,
            check_name: tls.mode == TlsMode::VerifyFull,
        })
    } else {
        Arc::new(Unverified(provider.signature_verification_algorithms))
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate and key do not fit together: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The CA certificates to trust: the CA file when there is one, else the system's.
pub fn roots(ca: Option<&Path>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match ca {
        Some(file) => {
            for cert in certificates(file)? {
                store
                    .add(cert)
                    .map_err(|e| format!("{}: not a usable CA certificate: {e}", file.display()))?;
            }
        }
        None => {
            for cert in system_roots()? {
                let _ = store.add(cert);
            }
        }
    }
    Ok(store)
}

/// The system's CA certificates (`/etc/ssl/certs` and the like, or `SSL_CERT_FILE`) that rustls
/// can use; one unusable certificate does not spoil the others.
pub fn system_roots() -> Result<Vec<CertificateDer<'static>>, String> {
    let usable: Vec<CertificateDer<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .into_iter()
        .filter(|cert| RootCertStore::empty().add(cert.clone()).is_ok())
        .collect();
    if usable.is_empty() {
        return Err(
            "no system CA certificates were found: install ca-certificates, or name the CA file (sslrootcert / ssl-ca)"
                .into(),
        );
    }
    Ok(usable)
}

/// The certificates of a PEM file, at least one.
pub fn certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", file.display()));
    }
    Ok(certs)
}

/// Checks the chain against the trusted roots, and the host name with `check_name`
/// (`verify-ca` trusts any name the CA vouched for).
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // webpki checks the name only after the chain: a name error means a trusted chain.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `prefer` and `require`: encrypted, with the handshake's signatures checked, but any
/// certificate accepted (as in libpq and the MySQL client).
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The parameter names a driver's users know.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// The mode parameter and its verifying values, like `sslmode`, `verify-ca`, `verify-full`.
    pub mode: [&'static str; 3],
    /// The CA file parameter (`sslrootcert`, `ssl-ca`).
    pub ca: &'static str,
    /// The mode that encrypts without verifying (`require`, `REQUIRED`).
    pub require: &'static str,
}

/// Plain words for a failed handshake found anywhere in `error`'s chain of causes: which CA file
/// to pass, or which names the certificate carries. `None` when it is not a certificate problem.
pub fn explain(
    error: &(dyn std::error::Error + 'static),
    tls: &Tls,
    host: &str,
    names: Names,
) -> Option<String> {
    let cert = certificate_error(error)?;
    let trusted = match &tls.ca {
        Some(file) => format!("the CAs in {}", file.display()),
        None => "the system's CA certificates".to_string(),
    };
    let [mode, verify_ca, _] = names.mode;
    Some(match cert {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
            "the server's certificate is not signed by a CA tally trusts (it checked {trusted}): \
             pass the CA that signed it with {}=/path/to/ca.pem (for a managed database, the \
             provider's CA bundle), or use {mode}={} to encrypt without verifying",
            names.ca, names.require
        ),
        CertificateError::NotValidForNameContext { expected, presented } => format!(
            "the server's certificate is for {}, not for `{}`: connect with a name it carries, or \
             use {mode}={verify_ca} to check the CA only",
            if presented.is_empty() {
                "no host name at all".to_string()
            } else {
                presented.iter().map(|n| plain_name(n)).collect::<Vec<_>>().join(", ")
            },
            expected.to_str()
        ),
        CertificateError::NotValidForName => format!(
            "the server's certificate is not for `{host}`: connect with a name it carries, or use \
             {mode}={verify_ca} to check the CA only"
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired: renew it on the server".to_string()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet: check the clocks of the server and of this machine"
                .to_string()
        }
        other => format!("the server's certificate was refused: {other}"),
    })
}

/// `localhost` for webpki's `DnsName("localhost")`, `127.0.0.1` for `IpAddress(127.0.0.1)`.
fn plain_name(name: &str) -> &str {
    for (head, tail) in [("DnsName(\"", "\")"), ("IpAddress(", ")")] {
        if let Some(inner) = name.strip_prefix(head).and_then(|n| n.strip_suffix(tail)) {
            return inner;
        }
    }
    name
}

/// The certificate error in `error`'s chain, looking inside I/O errors (where tokio-rustls puts
/// handshake failures).
fn certificate_error(error: &(dyn std::error::Error + 'static)) -> Option<CertificateError> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(rustls::Error::InvalidCertificate(c)) = e.downcast_ref::<rustls::Error>() {
            return Some(c.clone());
        }
        // An I/O error hides the error it wraps from `source()`, and reqwest wraps one I/O
        // error in another.
        let mut wrapped = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        while let Some(inner) = wrapped {
            if let Some(rustls::Error::InvalidCertificate(c)) =
                inner.downcast_ref::<rustls::Error>()
            {
                return Some(c.clone());
            }
            wrapped = inner
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref());
        }
        next = e.source();
    }
    None
}

/// The TLS settings a driver read from the URL, with the rules every driver shares: a CA file
/// makes `require` verify the CA, as libpq does, and so it does when no mode is given; with
/// `prefer` it would be ignored, which is refused. The files must exist.
pub fn settings(c: &mut Checker, key: &str, request: Request) -> Tls {
    for problem in &request.problems {
        c.issue(key, problem.clone());
    }
    let [ca_name, cert_name, key_name] = request.names;
    let ca = request.ca.as_deref().map(|p| pem_file(c, key, ca_name, p));
    let mode = match (request.mode, &ca) {
        (TlsMode::Require, Some(_)) => TlsMode::VerifyCa,
        (TlsMode::Prefer, Some(_)) if !request.explicit => TlsMode::VerifyCa,
        (TlsMode::Prefer, Some(_)) => {
            c.issue(
                key,
                "a CA file is given with a mode that does not verify (prefer / PREFERRED): choose verify-ca or verify-full (VERIFY_CA, VERIFY_IDENTITY), or drop the CA file",
            );
            TlsMode::Prefer
        }
        (mode, _) => mode,
    };
    if request.cert.is_some() != request.key.is_some() {
        c.issue(
            key,
            format!("a client certificate needs both {cert_name} and {key_name}"),
        );
    }
    let cert = request
        .cert
        .as_deref()
        .map(|p| pem_file(c, key, cert_name, p));
    let private_key = request
        .key
        .as_deref()
        .map(|p| pem_file(c, key, key_name, p));
    if mode == TlsMode::Disable && (ca.is_some() || cert.is_some()) {
        c.issue(
            key,
            "certificate files are given but TLS is disabled: remove them or choose a TLS mode",
        );
    }
    Tls {
        mode,
        ca,
        cert,
        key: private_key,
    }
}

/// A PEM file named in the URL, relative to the config file's folder; it must exist.
fn pem_file(c: &mut Checker, key: &str, param: &str, path: &str) -> PathBuf {
    let file = c.path(path);
    if !file.is_file() {
        c.issue(
            key,
            format!("{param}: file {} does not exist", file.display()),
        );
    }
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_builds_a_configuration() {
        for mode in [
            TlsMode::Prefer,
            TlsMode::Require,
            TlsMode::VerifyCa,
            TlsMode::VerifyFull,
        ] {
            let tls = Tls {
                mode,
                ..Tls::none()
            };
            // The verifying modes read the system's CAs; a machine without any gets a clear error.
            match client_config(&tls) {
                Ok(_) => {}
                Err(e) => assert!(e.contains("ca-certificates"), "{e}"),
            }
        }
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let tls = Tls {
            mode: TlsMode::VerifyFull,
            ca: Some("/nonexistent/ca.pem".into()),
            ..Tls::none()
        };
        let e = client_config(&tls).unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn name_mismatches_say_which_names_the_certificate_carries() {
        let error = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("db.example.com").unwrap().to_owned(),
            presented: vec!["DnsName(\"localhost\")".into()],
        });
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, error);
        let names = Names {
            mode: ["sslmode", "verify-ca", "verify-full"],
            ca: "sslrootcert",
            require: "require",
        };
        let text = explain(&io, &Tls::none(), "db.example.com", names).unwrap();
        assert!(text.contains("for localhost, not"), "{text}");
        assert!(text.contains("db.example.com"), "{text}");
        assert!(text.contains("sslmode=verify-ca"), "{text}");
    }
}
