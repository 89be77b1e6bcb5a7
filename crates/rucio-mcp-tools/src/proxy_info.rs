//! Reads a grid proxy certificate file, the way `voms-proxy-info --all` does,
//! so the MCP server can tell a language model (and its user) why Rucio
//! refuses a credential: expired, weak key, wrong VO, missing VOMS roles.
//!
//! The file comes from the user's disk and may hold anything: every path
//! here returns an error or "no data" instead of panicking.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name, parse_x509_certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::AttributeTypeAndValue;

/// RFC 3820 proxyCertInfo: its presence is what makes a certificate a proxy.
const OID_PROXY_CERT_INFO: &str = "1.3.6.1.5.5.7.1.14";
/// The pre-RFC (GT3 draft) proxyCertInfo, still met in old files.
const OID_PROXY_CERT_INFO_DRAFT: &str = "1.3.6.1.4.1.3536.1.222";
const OID_PPL_INHERIT_ALL: &str = "1.3.6.1.5.5.7.21.1";
const OID_PPL_INDEPENDENT: &str = "1.3.6.1.5.5.7.21.2";
const OID_PPL_LIMITED: &str = "1.3.6.1.4.1.3536.1.1.1.9";
/// The proxy extension that carries the VOMS attribute certificates.
const OID_VOMS_AC_SEQ: &str = "1.3.6.1.4.1.8005.100.100.5";
/// The AC attribute whose IetfAttrSyntax holds the VO and the FQANs.
const OID_VOMS_ATTRIBUTES: &str = "1.3.6.1.4.1.8005.100.100.4";

/// A proxy is a few kB; the cap keeps a mistaken path (a log, a disk image)
/// from being read whole into memory.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// Bounds recursion so a hostile blob cannot exhaust the stack.
const MAX_DER_DEPTH: usize = 32;
/// Below this, voms-proxy-info users are told to renew; we do the same.
const EXPIRY_WARNING_SECONDS: i64 = 3600;
/// Servers and rustls refuse RSA keys shorter than this.
const MIN_KEY_BITS: u32 = 2048;

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
/// `[0]` constructed: V2Form issuer in the AC, policyAuthority in IetfAttrSyntax.
const TAG_CONTEXT_0: u8 = 0xa0;
/// GeneralName directoryName `[4]` (explicit, since Name is a CHOICE).
const TAG_DIRECTORY_NAME: u8 = 0xa4;
/// GeneralName uniformResourceIdentifier `[6]` IMPLICIT IA5String.
const TAG_URI: u8 = 0x86;

/// What `voms-proxy-info --all` shows about a proxy file, as plain data so
/// callers can both check it (time left, key size) and render it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyInfo {
    pub path: PathBuf,
    /// Proxy DN in the slash form grid tools and Rucio accounts use.
    pub subject: String,
    pub issuer: String,
    /// The user's own DN, which is what a Rucio account is mapped to.
    pub identity: String,
    pub proxy_type: String,
    /// RSA modulus size, since servers reject keys under 2048 bits.
    pub key_bits: Option<u32>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub vo: Option<String>,
    /// Group/role attributes, e.g. "/atlas/Role=NULL/Capability=NULL".
    pub fqans: Vec<String>,
    /// The VOMS attributes can expire before the proxy itself.
    pub voms_not_after: Option<DateTime<Utc>>,
    /// Best effort: the VOMS server's DN from the attribute certificate.
    pub voms_issuer: Option<String>,
}

impl ProxyInfo {
    /// Takes `now` explicitly so output is reproducible in tests.
    pub fn seconds_left(&self, now: DateTime<Utc>) -> i64 {
        (self.not_after - now).num_seconds()
    }

    /// None when the proxy carries no VOMS attribute certificate.
    pub fn voms_seconds_left(&self, now: DateTime<Utc>) -> Option<i64> {
        self.voms_not_after.map(|t| (t - now).num_seconds())
    }

    /// Markdown for a language model: lines like voms-proxy-info's (subject,
    /// issuer, identity, type, strength, path, timeleft), then the VOMS
    /// section or "no VOMS attributes", then one warning line when the proxy
    /// is expired, about to expire, or has a key servers refuse.
    pub fn to_markdown(&self, now: DateTime<Utc>) -> String {
        let left = self.seconds_left(now);
        let strength = match self.key_bits {
            Some(bits) => format!("{bits} bits"),
            None => "unknown (not an RSA key)".to_string(),
        };
        let proxy_lines = [
            ("subject", clean(&self.subject)),
            ("issuer", clean(&self.issuer)),
            ("identity", clean(&self.identity)),
            ("type", clean(&self.proxy_type)),
            ("strength", strength),
            ("path", clean(&self.path.display().to_string())),
            ("timeleft", time_left(left, self.not_after)),
        ];

        let mut out = String::from("### Grid proxy\n\n");
        push_block(&mut out, &proxy_lines);

        out.push_str("\n### VOMS\n\n");
        if self.vo.is_none() && self.fqans.is_empty() {
            out.push_str(
                "no VOMS attributes: this is a plain grid proxy, without VO groups or roles\n",
            );
        } else {
            let mut voms_lines =
                vec![("VO", self.vo.as_deref().map_or_else(|| "unknown".to_string(), clean))];
            if let Some(issuer) = &self.voms_issuer {
                voms_lines.push(("issuer", clean(issuer)));
            }
            for fqan in &self.fqans {
                voms_lines.push(("attribute", clean(fqan)));
            }
            let voms_left = match (self.voms_seconds_left(now), self.voms_not_after) {
                (Some(secs), Some(until)) => time_left(secs, until),
                _ => "unknown".to_string(),
            };
            voms_lines.push(("timeleft", voms_left));
            push_block(&mut out, &voms_lines);
        }

        let mut problems = Vec::new();
        if left <= 0 {
            problems.push(format!("the proxy expired {} ago", hms(left)));
        } else if left < EXPIRY_WARNING_SECONDS {
            problems.push(format!("the proxy expires in {}", hms(left)));
        }
        if let Some(bits) = self.key_bits
            && bits < MIN_KEY_BITS
        {
            problems.push(format!(
                "its key has {bits} bits, under the {MIN_KEY_BITS} bits that servers and rustls require"
            ));
        }
        if !problems.is_empty() {
            let vo = self.vo.as_deref().map_or_else(|| "<VO>".to_string(), clean);
            let _ = writeln!(
                out,
                "\n**Warning:** {}; create a new proxy, e.g. `voms-proxy-init -voms {vo} -bits {MIN_KEY_BITS}`.",
                problems.join("; ")
            );
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyInfoError {
    #[error("cannot read the proxy file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("{path}: the certificate cannot be parsed: {reason}")]
    Parse { path: String, reason: String },
}

/// Reads a proxy file (proxy certificate, its key, then the chain) without
/// verifying it: the point is to explain the credential, not to trust it.
pub fn read_proxy_info(path: &Path) -> Result<ProxyInfo, ProxyInfoError> {
    let shown = path.display().to_string();
    let data = read_bounded(path)
        .map_err(|source| ProxyInfoError::Read { path: shown.clone(), source })?;
    let parse_error = |reason: String| ProxyInfoError::Parse { path: shown.clone(), reason };

    let ders = pem_certificates(&data).map_err(&parse_error)?;
    let mut certs = Vec::with_capacity(ders.len());
    for (index, der) in ders.iter().enumerate() {
        let (_, cert) = parse_x509_certificate(der)
            .map_err(|e| parse_error(format!("certificate #{}: {e}", index + 1)))?;
        certs.push(cert);
    }
    let Some(proxy) = certs.first() else {
        return Err(ProxyInfoError::NoCertificate { path: shown.clone() });
    };

    let subject = slash_dn(proxy.subject());
    let issuer = slash_dn(proxy.issuer());
    let kind = proxy_kind(proxy);
    let identity = certs
        .iter()
        .find(|cert| matches!(proxy_kind(cert), ProxyKind::EndEntity))
        .map(|cert| slash_dn(cert.subject()))
        .unwrap_or_else(|| strip_proxy_cns(&subject));

    let key_bits = match proxy.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => rsa_bits(rsa.modulus),
        _ => None,
    };
    let validity = proxy.validity();
    let not_before = DateTime::from_timestamp(validity.not_before.timestamp(), 0)
        .ok_or_else(|| parse_error("notBefore is out of range".to_string()))?;
    let not_after = DateTime::from_timestamp(validity.not_after.timestamp(), 0)
        .ok_or_else(|| parse_error("notAfter is out of range".to_string()))?;

    // A proxy made from a VOMS proxy keeps the AC in its parent, so look
    // down the chain rather than only at the first certificate.
    let voms = certs.iter().find_map(|cert| {
        cert.extensions()
            .iter()
            .filter(|ext| ext.oid.to_id_string() == OID_VOMS_AC_SEQ)
            .find_map(|ext| parse_voms_extension(ext.value))
    });
    let voms = voms.unwrap_or_default();

    Ok(ProxyInfo {
        path: path.to_path_buf(),
        proxy_type: kind.describe(),
        subject,
        issuer,
        identity,
        key_bits,
        not_before,
        not_after,
        vo: voms.vo,
        fqans: voms.fqans,
        voms_not_after: voms.not_after,
        voms_issuer: voms.issuer,
    })
}

/// Where Rucio and the grid tools look for the proxy, in order:
/// $RUCIO_CLIENT_PROXY, the given client_x509_proxy from rucio.cfg,
/// $X509_USER_PROXY, `/tmp/x509up_u<uid>`. `var` gives environment variables
/// (so tests don't mutate the environment); `uid` the effective uid.
/// Returns the first that is set (for the env/config ones) or exists (for
/// the /tmp default); None if none.
pub fn locate_proxy(
    var: &dyn Fn(&str) -> Option<String>,
    configured: Option<&Path>,
    uid: Option<u32>,
) -> Option<PathBuf> {
    let from_env = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    from_env("RUCIO_CLIENT_PROXY")
        .or_else(|| configured.filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf))
        .or_else(|| from_env("X509_USER_PROXY"))
        .or_else(|| {
            uid.map(|uid| PathBuf::from(format!("/tmp/x509up_u{uid}"))).filter(|p| p.exists())
        })
}

// ---------------------------------------------------------------------------
// File and PEM handling

/// Refuses non-regular files up front: opening a FIFO or reading a device
/// would hang or never end.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut data = Vec::new();
    std::fs::File::open(path)?.take(MAX_FILE_BYTES + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than 1 MiB, which no proxy file is",
        ));
    }
    Ok(data)
}

/// Decodes every CERTIFICATE block; key blocks and text between blocks are
/// skipped, as OpenSSL does.
fn pem_certificates(data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    let mut ders = Vec::new();
    let mut pos = 0;
    while let Some(rest) = data.get(pos..)
        && let Some(offset) = rest.windows(BEGIN.len()).position(|w| w == BEGIN)
    {
        let start = pos + offset;
        let block = data.get(start..).unwrap_or_default();
        let (pem, _) = x509_parser::pem::Pem::read(std::io::Cursor::new(block))
            .map_err(|e| format!("PEM block #{}: {e}", ders.len() + 1))?;
        ders.push(pem.contents);
        pos = start + BEGIN.len();
    }
    Ok(ders)
}

// ---------------------------------------------------------------------------
// Certificate inspection

enum ProxyKind {
    /// Carries the RFC 3820 proxyCertInfo; the policy language OID if readable.
    Rfc(Option<String>),
    Draft(Option<String>),
    Legacy {
        limited: bool,
    },
    EndEntity,
}

impl ProxyKind {
    /// The wording of voms-proxy-info (Java clients), which users know.
    fn describe(&self) -> String {
        let policy = |language: &Option<String>| match language.as_deref() {
            Some(OID_PPL_INHERIT_ALL) | None => "impersonation",
            Some(OID_PPL_LIMITED) => "limited",
            Some(OID_PPL_INDEPENDENT) => "independent",
            Some(_) => "restricted",
        };
        match self {
            Self::Rfc(language) => format!("RFC3820 compliant {} proxy", policy(language)),
            Self::Draft(language) => format!("Proxy draft (pre-RFC) {} proxy", policy(language)),
            Self::Legacy { limited: false } => "full legacy globus proxy".to_string(),
            Self::Legacy { limited: true } => "limited legacy globus proxy".to_string(),
            Self::EndEntity => "end entity certificate".to_string(),
        }
    }
}

/// Legacy Globus proxies have no extension, only the subject convention
/// "issuer DN + /CN=proxy", so both are checked to avoid mistaking a user
/// whose name happens to end in CN=proxy.
fn proxy_kind(cert: &X509Certificate<'_>) -> ProxyKind {
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        if oid == OID_PROXY_CERT_INFO {
            return ProxyKind::Rfc(first_oid(ext.value));
        }
        if oid == OID_PROXY_CERT_INFO_DRAFT {
            return ProxyKind::Draft(first_oid(ext.value));
        }
    }
    let subject = slash_dn(cert.subject());
    let issuer = slash_dn(cert.issuer());
    if subject.strip_suffix("/CN=proxy") == Some(issuer.as_str()) {
        return ProxyKind::Legacy { limited: false };
    }
    if subject.strip_suffix("/CN=limited proxy") == Some(issuer.as_str()) {
        return ProxyKind::Legacy { limited: true };
    }
    ProxyKind::EndEntity
}

/// The policy language is the only OID in ProxyCertInfo, whether it is
/// the RFC or the draft layout, so the first OID found is it.
fn first_oid(der: &[u8]) -> Option<String> {
    fn walk(node: Tlv<'_>, depth: usize) -> Option<String> {
        if node.tag == TAG_OID {
            return oid_string(node.value);
        }
        if depth >= MAX_DER_DEPTH {
            return None;
        }
        node.children()?.into_iter().find_map(|child| walk(child, depth + 1))
    }
    let (top, _) = read_tlv(der)?;
    walk(top, 0)
}

/// Fallback identity when the file lacks the user certificate: proxies
/// append /CN=proxy, /CN=limited proxy or /CN=<digits> to the user's DN.
fn strip_proxy_cns(subject: &str) -> String {
    let mut dn = subject;
    loop {
        let shorter = dn
            .strip_suffix("/CN=proxy")
            .or_else(|| dn.strip_suffix("/CN=limited proxy"))
            .or_else(|| {
                dn.rsplit_once("/CN=").and_then(|(head, tail)| {
                    (!tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit())).then_some(head)
                })
            });
        match shorter {
            Some(s) if !s.is_empty() => dn = s,
            _ => return dn.to_string(),
        }
    }
}

/// Counts significant bits: x509-parser's own key_size() is off for moduli
/// encoded without a leading zero byte.
fn rsa_bits(modulus: &[u8]) -> Option<u32> {
    let start = modulus.iter().position(|&b| b != 0)?;
    let significant = modulus.get(start..)?;
    let first = significant.first()?;
    let bytes = u32::try_from(significant.len()).ok()?;
    bytes.checked_sub(1)?.checked_mul(8)?.checked_add(8 - first.leading_zeros())
}

/// OpenSSL's one-line ("/C=CH/O=.../CN=...") form, the one Rucio stores.
fn slash_dn(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for rdn in name.iter_rdn() {
        out.push('/');
        for (i, atv) in rdn.iter().enumerate() {
            if i > 0 {
                out.push('+');
            }
            out.push_str(&short_attribute_name(&atv.attr_type().to_id_string()));
            out.push('=');
            out.push_str(&attribute_value(atv));
        }
    }
    out
}

fn short_attribute_name(oid: &str) -> String {
    let name = match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.42" => "GN",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        other => other,
    };
    name.to_string()
}

fn attribute_value(atv: &AttributeTypeAndValue<'_>) -> String {
    if let Ok(s) = atv.as_str() {
        return s.to_string();
    }
    let raw = atv.as_slice();
    // BMPString (UCS-2), still used by some old CAs.
    if atv.attr_value().tag().0 == 30 {
        let units: Vec<u16> = raw
            .chunks(2)
            .map(|pair| match pair {
                [hi, lo] => u16::from_be_bytes([*hi, *lo]),
                _ => 0xfffd,
            })
            .collect();
        return String::from_utf16_lossy(&units);
    }
    String::from_utf8_lossy(raw).into_owned()
}

// ---------------------------------------------------------------------------
// Minimal DER walker for the parts x509-parser does not model

#[derive(Clone, Copy, Debug)]
struct Tlv<'a> {
    /// First identifier octet; high tag numbers keep their 0x1f marker,
    /// which matches nothing we look for.
    tag: u8,
    value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// None for primitive values and for malformed contents.
    fn children(&self) -> Option<Vec<Tlv<'a>>> {
        if self.tag & 0x20 == 0 {
            return None;
        }
        let mut rest = self.value;
        let mut out = Vec::new();
        while !rest.is_empty() {
            let (tlv, next) = read_tlv(rest)?;
            out.push(tlv);
            rest = next;
        }
        Some(out)
    }
}

/// Reads one TLV; refuses indefinite lengths (not DER) and lengths that run
/// past the buffer.
fn read_tlv(buf: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, mut rest) = buf.split_first()?;
    if tag & 0x1f == 0x1f {
        loop {
            let (&b, next) = rest.split_first()?;
            rest = next;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let mut len = 0usize;
        for _ in 0..count {
            let (&b, next) = rest.split_first()?;
            rest = next;
            len = len.checked_mul(256)?.checked_add(usize::from(b))?;
        }
        len
    };
    if len > rest.len() {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((Tlv { tag, value }, rest))
}

fn oid_string(bytes: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut current: u64 = 0;
    let mut pending = false;
    for &b in bytes {
        if current > (u64::MAX >> 7) {
            return None;
        }
        current = (current << 7) | u64::from(b & 0x7f);
        pending = b & 0x80 != 0;
        if !pending {
            arcs.push(current);
            current = 0;
        }
    }
    let (&first, rest) = arcs.split_first()?;
    if pending {
        return None;
    }
    let (a, b) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut out = format!("{a}.{b}");
    for arc in rest {
        let _ = write!(out, ".{arc}");
    }
    Some(out)
}

/// GeneralizedTime ("YYYYMMDDHHMMSS[.fff]Z") or UTCTime ("YYMMDDHHMMSSZ").
fn asn1_time(node: Tlv<'_>) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(node.value).ok()?;
    let year_digits = match node.tag {
        TAG_GENERALIZED_TIME => 4,
        TAG_UTC_TIME => 2,
        _ => return None,
    };
    let fixed = text.get(..year_digits + 10)?;
    if !fixed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number =
        |from: usize, len: usize| -> Option<u32> { fixed.get(from..from + len)?.parse().ok() };
    let mut year = i32::try_from(number(0, year_digits)?).ok()?;
    if year_digits == 2 {
        year += if year < 50 { 2000 } else { 1900 };
    }
    let tail = text.get(year_digits + 10..)?;
    let tail = tail.strip_suffix('Z').unwrap_or(tail);
    let fraction_ok = tail.is_empty()
        || tail
            .strip_prefix('.')
            .is_some_and(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if !fraction_ok {
        return None;
    }
    let o = year_digits;
    NaiveDate::from_ymd_opt(year, number(o, 2)?, number(o + 2, 2)?)?
        .and_hms_opt(number(o + 4, 2)?, number(o + 6, 2)?, number(o + 8, 2)?)
        .map(|t| t.and_utc())
}

// ---------------------------------------------------------------------------
// VOMS attribute certificates

/// What the first usable VOMS attribute certificate says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VomsData {
    pub(crate) vo: Option<String>,
    pub(crate) fqans: Vec<String>,
    pub(crate) not_after: Option<DateTime<Utc>>,
    pub(crate) issuer: Option<String>,
}

/// Parses the value of extension 1.3.6.1.4.1.8005.100.100.5. VOMS writes
/// it as SEQUENCE { SEQUENCE OF AttributeCertificate } while the spec reads
/// SEQUENCE OF AttributeCertificate, so ACs are found by shape at any
/// (bounded) depth. None when nothing usable is there.
pub(crate) fn parse_voms_extension(der: &[u8]) -> Option<VomsData> {
    let (top, rest) = read_tlv(der)?;
    if !rest.is_empty() {
        return None;
    }
    find_attribute_certificate(top, 0)
}

fn find_attribute_certificate(node: Tlv<'_>, depth: usize) -> Option<VomsData> {
    if node.tag != TAG_SEQUENCE || depth > MAX_DER_DEPTH {
        return None;
    }
    let children = node.children()?;
    attribute_certificate(&children).or_else(|| {
        children.into_iter().find_map(|child| find_attribute_certificate(child, depth + 1))
    })
}

/// AttributeCertificate ::= SEQUENCE { acinfo, signatureAlgorithm, signatureValue };
/// acinfo starts with its version INTEGER, then holds the V2Form issuer
/// `[0]`, the validity SEQUENCE of two times and the attributes SEQUENCE.
fn attribute_certificate(children: &[Tlv<'_>]) -> Option<VomsData> {
    let acinfo = children.first().filter(|t| t.tag == TAG_SEQUENCE)?;
    let fields = acinfo.children()?;
    if fields.first()?.tag != TAG_INTEGER {
        return None;
    }
    let mut data = VomsData::default();
    for field in &fields {
        match field.tag {
            TAG_SEQUENCE => {
                let Some(inner) = field.children() else {
                    continue;
                };
                if let [start, end] = inner.as_slice()
                    && let (Some(_), Some(until)) = (asn1_time(*start), asn1_time(*end))
                {
                    data.not_after = Some(until);
                } else if data.fqans.is_empty() && data.vo.is_none() {
                    read_voms_attributes(&inner, &mut data);
                }
            }
            TAG_CONTEXT_0 if data.issuer.is_none() => data.issuer = v2form_issuer(*field),
            _ => {}
        }
    }
    (data.vo.is_some() || !data.fqans.is_empty()).then_some(data)
}

/// Attribute ::= SEQUENCE { type OID, values SET OF IetfAttrSyntax }.
fn read_voms_attributes(attributes: &[Tlv<'_>], data: &mut VomsData) {
    for attribute in attributes {
        if attribute.tag != TAG_SEQUENCE {
            continue;
        }
        let Some(parts) = attribute.children() else {
            continue;
        };
        let [oid, values, ..] = parts.as_slice() else {
            continue;
        };
        if oid.tag != TAG_OID
            || oid_string(oid.value).as_deref() != Some(OID_VOMS_ATTRIBUTES)
            || values.tag != TAG_SET
        {
            continue;
        }
        for value in values.children().unwrap_or_default() {
            read_ietf_attr_syntax(value, data);
        }
    }
}

/// IetfAttrSyntax ::= SEQUENCE { policyAuthority [0] GeneralNames OPTIONAL,
/// values SEQUENCE OF CHOICE { OCTET STRING, OID, UTF8String } }.
fn read_ietf_attr_syntax(node: Tlv<'_>, data: &mut VomsData) {
    if node.tag != TAG_SEQUENCE {
        return;
    }
    for part in node.children().unwrap_or_default() {
        match part.tag {
            TAG_CONTEXT_0 if data.vo.is_none() => {
                // The VOMS server URI, "atlas://voms-atlas-auth.cern.ch:443".
                data.vo = part
                    .children()
                    .unwrap_or_default()
                    .iter()
                    .filter(|name| name.tag == TAG_URI)
                    .find_map(|name| {
                        let uri = std::str::from_utf8(name.value).ok()?;
                        let (vo, _) = uri.split_once("://")?;
                        (!vo.is_empty()).then(|| vo.to_string())
                    });
            }
            TAG_SEQUENCE => {
                for value in part.children().unwrap_or_default() {
                    if matches!(value.tag, TAG_OCTET_STRING | TAG_UTF8_STRING) {
                        data.fqans.push(String::from_utf8_lossy(value.value).into_owned());
                    }
                }
            }
            _ => {}
        }
    }
    // Without a policyAuthority, the VO is the first FQAN's top group.
    if data.vo.is_none() {
        data.vo = data.fqans.iter().find_map(|fqan| {
            let group = fqan.strip_prefix('/')?.split('/').next()?;
            (!group.is_empty()).then(|| group.to_string())
        });
    }
}

/// V2Form ::= SEQUENCE { issuerName GeneralNames OPTIONAL, ... }, tagged `[0]`
/// IMPLICIT; the VOMS server's DN is its directoryName.
fn v2form_issuer(v2form: Tlv<'_>) -> Option<String> {
    v2form.children()?.into_iter().find_map(|part| {
        let names = if part.tag == TAG_SEQUENCE { part.children()? } else { vec![part] };
        names.into_iter().filter(|name| name.tag == TAG_DIRECTORY_NAME).find_map(|name| {
            let (_, dn) = X509Name::from_der(name.value).ok()?;
            Some(slash_dn(&dn))
        })
    })
}

// ---------------------------------------------------------------------------
// Rendering helpers

fn hms(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn time_left(seconds: i64, until: DateTime<Utc>) -> String {
    let until = until.format("%Y-%m-%d %H:%M:%S UTC");
    if seconds > 0 {
        format!("{} (until {until})", hms(seconds))
    } else {
        format!("expired {} ago (at {until})", hms(seconds))
    }
}

/// Text from the file must not be able to break the Markdown layout.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Aligned "key : value" lines in a fence longer than any backtick run
/// inside, so a DN cannot close it.
fn push_block(out: &mut String, lines: &[(&str, String)]) {
    let mut body = String::new();
    for (key, value) in lines {
        let _ = writeln!(body, "{key:<9} : {value}");
    }
    let longest_run = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    let _ = write!(out, "{fence}text\n{body}{fence}\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::process::Command;

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl CLI must be installed");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    /// A CA and the user certificate /C=CH/O=Test/CN=Rucio Test Root.
    fn make_user(dir: &Path) {
        #[rustfmt::skip]
        openssl(dir, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
            "-out", "ca.crt", "-subj", "/C=CH/O=Test/CN=Test CA", "-days", "2"]);
        #[rustfmt::skip]
        openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "user.key",
            "-out", "user.csr", "-subj", "/C=CH/O=Test/CN=Rucio Test Root"]);
        #[rustfmt::skip]
        openssl(dir, &["x509", "-req", "-in", "user.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-set_serial", "1", "-days", "2", "-out", "user.crt"]);
    }

    /// Signs a proxy with the user key; `extension` is the proxyCertInfo
    /// line, None for a legacy proxy. Returns the proxy cert and key PEM.
    fn make_proxy(dir: &Path, subject: &str, bits: u32, extension: Option<&str>) -> String {
        let ext = match extension {
            Some(pci) => format!(
                "[v3_proxy]\nbasicConstraints = critical,CA:FALSE\n\
                 keyUsage = critical,digitalSignature,keyEncipherment\n{pci}\n"
            ),
            None => "[v3_proxy]\nkeyUsage = critical,digitalSignature,keyEncipherment\n".into(),
        };
        std::fs::write(dir.join("ext.cnf"), ext).unwrap();
        let newkey = format!("rsa:{bits}");
        #[rustfmt::skip]
        openssl(dir, &["req", "-newkey", &newkey, "-nodes", "-keyout", "p.key", "-out", "p.csr",
            "-subj", subject]);
        #[rustfmt::skip]
        openssl(dir, &["x509", "-req", "-in", "p.csr", "-CA", "user.crt", "-CAkey", "user.key",
            "-set_serial", "424242", "-days", "1", "-extfile", "ext.cnf",
            "-extensions", "v3_proxy", "-out", "p.crt"]);
        read(dir, "p.crt") + &read(dir, "p.key")
    }

    const USER_DN: &str = "/C=CH/O=Test/CN=Rucio Test Root";
    const PROXY_DN: &str = "/C=CH/O=Test/CN=Rucio Test Root/CN=424242";
    const INHERIT_ALL: &str = "proxyCertInfo = critical,language:id-ppl-inheritAll";

    fn write_proxy_file(dir: &Path, content: &str) -> PathBuf {
        let path = dir.join("x509up_test");
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn reads_rfc3820_proxy() {
        let dir = tempfile::tempdir().unwrap();
        make_user(dir.path());
        let proxy = make_proxy(dir.path(), PROXY_DN, 2048, Some(INHERIT_ALL));
        let path = write_proxy_file(dir.path(), &(proxy + &read(dir.path(), "user.crt")));

        let info = read_proxy_info(&path).unwrap();
        assert_eq!(info.path, path);
        assert_eq!(info.subject, PROXY_DN);
        assert_eq!(info.issuer, USER_DN);
        assert_eq!(info.identity, USER_DN);
        assert_eq!(info.proxy_type, "RFC3820 compliant impersonation proxy");
        assert_eq!(info.key_bits, Some(2048));
        let left = info.seconds_left(Utc::now());
        assert!((86_400 - 300..=86_400).contains(&left), "left = {left}");
        assert!(info.not_before <= Utc::now());
        assert_eq!(info.vo, None);
        assert!(info.fqans.is_empty());
        assert_eq!(info.voms_not_after, None);
        assert_eq!(info.voms_seconds_left(Utc::now()), None);
        assert_eq!(info.voms_issuer, None);
    }

    #[test]
    fn limited_legacy_and_chainless_proxies() {
        let dir = tempfile::tempdir().unwrap();
        make_user(dir.path());

        // Limited RFC proxy without the user certificate in the file: the
        // identity falls back to stripping the proxy CN.
        let limited = make_proxy(
            dir.path(),
            PROXY_DN,
            2048,
            Some("proxyCertInfo = critical,language:1.3.6.1.4.1.3536.1.1.1.9"),
        );
        let info = read_proxy_info(&write_proxy_file(dir.path(), &limited)).unwrap();
        assert_eq!(info.proxy_type, "RFC3820 compliant limited proxy");
        assert_eq!(info.identity, USER_DN);

        let legacy_dn = format!("{USER_DN}/CN=proxy");
        let legacy = make_proxy(dir.path(), &legacy_dn, 2048, None);
        let file = legacy + &read(dir.path(), "user.crt");
        let info = read_proxy_info(&write_proxy_file(dir.path(), &file)).unwrap();
        assert_eq!(info.proxy_type, "full legacy globus proxy");
        assert_eq!(info.subject, legacy_dn);
        assert_eq!(info.identity, USER_DN);

        let path = dir.path().join("user.crt");
        let info = read_proxy_info(&path).unwrap();
        assert_eq!(info.proxy_type, "end entity certificate");
        assert_eq!(info.identity, USER_DN);
    }

    #[test]
    fn strips_proxy_cns_for_the_fallback_identity() {
        assert_eq!(strip_proxy_cns("/O=A/CN=u/CN=123/CN=proxy"), "/O=A/CN=u");
        assert_eq!(strip_proxy_cns("/O=A/CN=u/CN=limited proxy"), "/O=A/CN=u");
        assert_eq!(strip_proxy_cns("/O=A/CN=u"), "/O=A/CN=u");
        assert_eq!(strip_proxy_cns("/CN=123"), "/CN=123");
        assert_eq!(strip_proxy_cns(""), "");
    }

    #[test]
    fn bad_files_give_the_right_error() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, content: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            path
        };

        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        let err = read_proxy_info(&write("garbage", &garbage)).unwrap_err();
        assert!(matches!(err, ProxyInfoError::NoCertificate { .. }), "{err}");

        let err = read_proxy_info(&write("empty", b"")).unwrap_err();
        assert!(matches!(err, ProxyInfoError::NoCertificate { .. }), "{err}");

        openssl(dir.path(), &["genrsa", "-out", "only.key", "1024"]);
        let err = read_proxy_info(&dir.path().join("only.key")).unwrap_err();
        assert!(matches!(err, ProxyInfoError::NoCertificate { .. }), "{err}");
        assert!(err.to_string().contains("holds no PEM certificate"));

        let bad_base64 = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let err = read_proxy_info(&write("bad_b64", bad_base64)).unwrap_err();
        assert!(matches!(err, ProxyInfoError::Parse { .. }), "{err}");

        let not_der = b"-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n";
        let err = read_proxy_info(&write("not_der", not_der)).unwrap_err();
        assert!(matches!(err, ProxyInfoError::Parse { .. }), "{err}");

        let unterminated = b"-----BEGIN CERTIFICATE-----\nMIIB\n";
        let err = read_proxy_info(&write("unterminated", unterminated)).unwrap_err();
        assert!(matches!(err, ProxyInfoError::Parse { .. }), "{err}");

        let err = read_proxy_info(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(err, ProxyInfoError::Read { .. }), "{err}");
        let err = read_proxy_info(dir.path()).unwrap_err();
        assert!(matches!(err, ProxyInfoError::Read { .. }), "{err}");
    }

    #[test]
    fn truncated_real_proxy_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        make_user(dir.path());
        let proxy = make_proxy(dir.path(), PROXY_DN, 2048, Some(INHERIT_ALL));
        let path = dir.path().join("cut");
        for cut in (0..proxy.len()).step_by(37) {
            std::fs::write(&path, &proxy.as_bytes()[..cut]).unwrap();
            let _ = read_proxy_info(&path);
        }
    }

    // A tiny DER encoder, enough to build attribute certificates by hand.
    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        der(TAG_SEQUENCE, &parts.concat())
    }

    fn oid(dotted: &str) -> Vec<u8> {
        let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
        let mut body = Vec::new();
        let mut encode = |mut value: u64| {
            let mut chunk = vec![(value & 0x7f) as u8];
            value >>= 7;
            while value > 0 {
                chunk.push(0x80 | (value & 0x7f) as u8);
                value >>= 7;
            }
            body.extend(chunk.into_iter().rev());
        };
        encode(arcs[0] * 40 + arcs[1]);
        for &arc in &arcs[2..] {
            encode(arc);
        }
        der(TAG_OID, &body)
    }

    fn name(cn: &str) -> Vec<u8> {
        let c = seq(&[oid("2.5.4.6"), der(0x13, b"CH")]);
        let cn = seq(&[oid("2.5.4.3"), der(0x0c, cn.as_bytes())]);
        seq(&[der(TAG_SET, &c), der(TAG_SET, &cn)])
    }

    /// An RFC 3281 AttributeCertificate shaped like the ones VOMS issues.
    fn voms_ac() -> Vec<u8> {
        let holder = seq(&[der(
            TAG_CONTEXT_0,
            &[seq(&[der(TAG_DIRECTORY_NAME, &name("Rucio Test Root"))]), der(TAG_INTEGER, &[1])]
                .concat(),
        )]);
        let issuer =
            der(TAG_CONTEXT_0, &seq(&[der(TAG_DIRECTORY_NAME, &name("voms.example.org"))]));
        let algorithm = seq(&[oid("1.2.840.113549.1.1.11"), der(0x05, &[])]);
        let validity = seq(&[
            der(TAG_GENERALIZED_TIME, b"20261122000000Z"),
            der(TAG_GENERALIZED_TIME, b"20261123120000Z"),
        ]);
        let policy_authority = der(TAG_CONTEXT_0, &der(TAG_URI, b"atlas://voms.example.org:15001"));
        let fqans = seq(&[
            der(TAG_OCTET_STRING, b"/atlas/Role=NULL/Capability=NULL"),
            der(TAG_OCTET_STRING, b"/atlas/lcg1/Role=NULL/Capability=NULL"),
        ]);
        let ietf_attr = seq(&[policy_authority, fqans]);
        let attributes = seq(&[seq(&[oid(OID_VOMS_ATTRIBUTES), der(TAG_SET, &ietf_attr)])]);
        let extensions = seq(&[seq(&[oid("2.5.29.56"), der(TAG_OCTET_STRING, &[0x05, 0x00])])]);
        let acinfo = seq(&[
            der(TAG_INTEGER, &[1]),
            holder,
            issuer,
            algorithm.clone(),
            der(TAG_INTEGER, &[0x2a]),
            validity,
            attributes,
            extensions,
        ]);
        // A 2048-bit signature, so the lengths need the long form.
        let signature = der(0x03, &[0x5a; 257]);
        seq(&[acinfo, algorithm, signature])
    }

    fn assert_voms(data: &VomsData) {
        assert_eq!(data.vo.as_deref(), Some("atlas"));
        assert_eq!(
            data.fqans,
            ["/atlas/Role=NULL/Capability=NULL", "/atlas/lcg1/Role=NULL/Capability=NULL"]
        );
        let until =
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap().and_hms_opt(12, 0, 0).unwrap().and_utc();
        assert_eq!(data.not_after, Some(until));
        assert_eq!(data.issuer.as_deref(), Some("/C=CH/CN=voms.example.org"));
    }

    #[test]
    fn test_encoder_matches_the_walker() {
        let encoded = oid(OID_VOMS_AC_SEQ);
        let (tlv, rest) = read_tlv(&encoded).unwrap();
        assert!(rest.is_empty());
        assert_eq!(oid_string(tlv.value).as_deref(), Some(OID_VOMS_AC_SEQ));
        assert_eq!(oid_string(&oid("2.999.3")[2..]).as_deref(), Some("2.999.3"));
    }

    #[test]
    fn parses_voms_extension() {
        // SEQUENCE OF AttributeCertificate, as RFC 3281 and the brief read it.
        let blob = seq(&[voms_ac()]);
        assert!(blob.len() > 256 && blob[1] == 0x82, "long-form length exercised");
        assert_voms(&parse_voms_extension(&blob).unwrap());

        // SEQUENCE { SEQUENCE OF AC }, as VOMS's AC_SEQ actually encodes it.
        let wrapped = seq(&[seq(&[voms_ac()])]);
        assert_voms(&parse_voms_extension(&wrapped).unwrap());
    }

    /// The extension value of a proxy made by voms-proxy-fake (VOMS 2.1),
    /// which wraps the ACs twice: SEQUENCE { SEQUENCE OF AC }.
    const REAL_VOMS_EXTENSION: &str = concat!(
        "3082065E3082065A308206563082053E0201013078A0763071A46F306D31123010060A0992268993F22C640119160263",
        "6831143012060A0992268993F22C64011916046365726E310E300C060355040B0C055573657273310D300B0603550403",
        "0C046A646F65310F300D06035504030C063132333435363111300F06035504030C084A6F686E20446F65020101A06630",
        "64A462306031123010060A0992268993F22C6401191602636831143012060A0992268993F22C64011916046365726E31",
        "123010060355040B0C09636F6D7075746572733120301E06035504030C17766F6D732D61746C61732D617574682E6365",
        "726E2E6368300D06092A864886F70D01010B05000201013022180F32303236313132323036303131395A180F32303236",
        "313132323132303131395A308185308182060A2B06010401BE4564640431743072A025862361746C61733A2F2F766F6D",
        "732D61746C61732D617574682E6365726E2E63683A343433304904202F61746C61732F526F6C653D4E554C4C2F436170",
        "6162696C6974793D4E554C4C04252F61746C61732F6C6367312F526F6C653D4E554C4C2F4361706162696C6974793D4E",
        "554C4C3082039730820367060A2B06010401BE4564640A04820357308203533082034F3082034B30820233A003020102",
        "020102300D06092A864886F70D01010B0500302E310B3009060355040613024348310D300B060355040A0C0454657374",
        "3110300E06035504030C0754657374204341301E170D3236313132323036303131395A170D3236313132343036303131",
        "395A306031123010060A0992268993F22C6401191602636831143012060A0992268993F22C64011916046365726E3112",
        "3010060355040B0C09636F6D7075746572733120301E06035504030C17766F6D732D61746C61732D617574682E636572",
        "6E2E636830820122300D06092A864886F70D01010105000382010F003082010A0282010100AB89A2C943F5BC683E2215",
        "A418C5625E0385E49F696FD3AF89817C797066C6FD0B085C55BA19C460C95BE94F4632205DE2708480E0E31E5C964C50",
        "044705DA278479FDC9973DD8CAB3F989A271873E16640AE8620224A8939460E840A1253C6C90B426752571AB596DAAB4",
        "7052C370963D6E1D5722CCB96587072BA7E64B40EF9ED18DA2A668E681648D92C8D4502D6A26C9A10F92F4379CFF89CC",
        "14B850D47FA134B834A499C1C1A77C72AAA6F18941CF5066446FEF24F6163D1674C5571A6F152E4E692310F1644E77AF",
        "645416C6CE0141D5B91226C29DCDD420D15A7E3508B7CF2D6ABCBFD65A05D5F56D8802B872C3DC3CF218C8F82A836A80",
        "CB37091EC70203010001A3423040301D0603551D0E04160414D65300E8FCCD071B3061D0A19F4D45866E260D79301F06",
        "03551D23041830168014A3234975967AB5A86408E95FABE9E09F3C8C4498300D06092A864886F70D01010B0500038201",
        "01001656C49D62485D34CAFB17FF0C9F3833D56720EFB13DCA78471597A51C1D3C9DBDD5C538706D03FCFB36B8AB1848",
        "BDDC8F5C0E2019A4AA5B5F6503468FB4CD594FF5EF3EB1DCB9330C1C78387452FC75CBF7C1174E64E1A5D2326537DDCA",
        "8EF99CB9B2206BDE92F6F7E4BA7110ADDAA6E9FED962842FFBEF8C4ED5339757CD67DDB801E25892AC71467C4876A927",
        "7D6E1986BA27B1BFC484A252BF650F9D89A463FA0AD1B2932F0852C701367A2ACFAEF50C7D66FCF70DBD0C960757516B",
        "FA93C854C18E07DD78AC37A38D6BA756B6F55D3DE925C7310431427E18E688C6A249429D859BD42ECFA385603467667D",
        "6EEFCC16BC9F89B5220B050C2D85AF13479430090603551D3804020500301F0603551D23041830168014D65300E8FCCD",
        "071B3061D0A19F4D45866E260D79300D06092A864886F70D01010B050003820101009DF0E8A88901CEFF018554326013",
        "9D4259EF1A86A5778DFF683433E3382D7C3D85B449F09F1D70EEFE305C780960E84B5D1CD87A9720852A78D2DBD29B85",
        "2BA033673EDD71BDD51E7F6AC1D8C56D822F03B4AB13BFA45145DCF0A1A1AD2332FF18F2C11769B18742505604ABD83B",
        "094A847F19004FA24A36B92F75EFAA42E0CEB9CAE479FB4848C261C77E06FDF35D961E32B9842B0BA17C042F551C98F2",
        "F636A41FFA1AC07E705D56B8639F4388E6C707E10B96817A8CD7E79D6D382174EF1C99AAA66D5FDE82AB5B76E58AA93A",
        "A4CF7157B913EB24D12042261414947D87B6144EBCD302E19C661F55C22B96C8A72FDFC19A37D433C7F3E00B05228DDD",
        "9746",
    );

    #[test]
    fn parses_a_real_voms_proxy_fake_extension() {
        let hex = REAL_VOMS_EXTENSION.as_bytes();
        let blob: Vec<u8> = hex
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect();
        let data = parse_voms_extension(&blob).unwrap();
        assert_eq!(data.vo.as_deref(), Some("atlas"));
        assert_eq!(
            data.fqans,
            ["/atlas/Role=NULL/Capability=NULL", "/atlas/lcg1/Role=NULL/Capability=NULL"]
        );
        let until = NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(12, 1, 19)
            .unwrap()
            .and_utc();
        assert_eq!(data.not_after, Some(until));
        assert_eq!(
            data.issuer.as_deref(),
            Some("/DC=ch/DC=cern/OU=computers/CN=voms-atlas-auth.cern.ch")
        );
    }

    #[test]
    fn garbage_voms_blobs_give_none() {
        let blob = seq(&[voms_ac()]);
        for cut in 0..blob.len() {
            assert_eq!(parse_voms_extension(&blob[..cut]), None, "cut at {cut}");
        }
        // Every single-byte corruption must return (anything) without panicking.
        for i in 0..blob.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = blob.clone();
                bad[i] ^= flip;
                let _ = parse_voms_extension(&bad);
            }
        }
        assert_eq!(parse_voms_extension(&[]), None);
        assert_eq!(parse_voms_extension(b"not der at all"), None);
        assert_eq!(parse_voms_extension(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(parse_voms_extension(&[0x30, 0x80, 0x00, 0x00]), None);
        // Nesting far past the depth limit.
        let mut deep = der(TAG_OCTET_STRING, b"x");
        for _ in 0..200 {
            deep = der(TAG_SEQUENCE, &deep);
        }
        assert_eq!(parse_voms_extension(&deep), None);
        // A well-formed SEQUENCE without any attribute certificate.
        assert_eq!(parse_voms_extension(&seq(&[oid("1.2.3")])), None);
    }

    #[test]
    fn parses_asn1_times() {
        let t = |tag, s: &[u8]| asn1_time(Tlv { tag, value: s });
        let expected =
            NaiveDate::from_ymd_opt(2026, 11, 22).unwrap().and_hms_opt(1, 2, 3).unwrap().and_utc();
        assert_eq!(t(TAG_GENERALIZED_TIME, b"20261122010203Z"), Some(expected));
        assert_eq!(t(TAG_GENERALIZED_TIME, b"20261122010203.5Z"), Some(expected));
        assert_eq!(t(TAG_UTC_TIME, b"261122010203Z"), Some(expected));
        assert_eq!(t(TAG_GENERALIZED_TIME, b"2026112201020Z"), None);
        assert_eq!(t(TAG_GENERALIZED_TIME, b"20261322010203Z"), None);
        assert_eq!(t(TAG_GENERALIZED_TIME, b"+0261122010203Z"), None);
        assert_eq!(t(TAG_GENERALIZED_TIME, b"20261122010203x"), None);
        assert_eq!(t(TAG_OCTET_STRING, b"20261122010203Z"), None);
    }

    #[test]
    fn rsa_bits_counts_significant_bits() {
        assert_eq!(rsa_bits(&[0x00, 0x80, 0, 0]), Some(24));
        assert_eq!(rsa_bits(&[0xc0; 256]), Some(2048));
        assert_eq!(rsa_bits(&[0x01, 0xff]), Some(9));
        assert_eq!(rsa_bits(&[0, 0]), None);
        assert_eq!(rsa_bits(&[]), None);
    }

    fn sample(now: DateTime<Utc>) -> ProxyInfo {
        ProxyInfo {
            path: PathBuf::from("/tmp/x509up_u1000"),
            subject: PROXY_DN.into(),
            issuer: USER_DN.into(),
            identity: USER_DN.into(),
            proxy_type: "RFC3820 compliant impersonation proxy".into(),
            key_bits: Some(2048),
            not_before: now - chrono::Duration::hours(1),
            not_after: now + chrono::Duration::seconds(12 * 3600 + 61),
            vo: Some("atlas".into()),
            fqans: vec!["/atlas/Role=NULL/Capability=NULL".into()],
            voms_not_after: Some(now + chrono::Duration::hours(2)),
            voms_issuer: Some("/C=CH/CN=voms.example.org".into()),
        }
    }

    #[test]
    fn markdown_for_a_healthy_voms_proxy() {
        let now = Utc::now();
        let md = sample(now).to_markdown(now);
        assert!(md.contains(&format!("identity  : {USER_DN}")), "{md}");
        assert!(md.contains("timeleft  : 12:01:01"), "{md}");
        assert!(md.contains("strength  : 2048 bits"), "{md}");
        assert!(md.contains("VO        : atlas"), "{md}");
        assert!(md.contains("attribute : /atlas/Role=NULL/Capability=NULL"), "{md}");
        assert!(md.contains("timeleft  : 02:00:00"), "{md}");
        assert!(!md.contains("Warning"), "{md}");
    }

    #[test]
    fn markdown_warns_on_expiry_and_hostile_text() {
        let now = Utc::now();
        let mut info = sample(now);
        info.not_after = now - chrono::Duration::seconds(3 * 3600 + 5);
        info.vo = None;
        info.fqans.clear();
        info.voms_not_after = None;
        info.subject = "/CN=```\nevil".into();
        let md = info.to_markdown(now);
        assert!(md.contains("timeleft  : expired 03:00:05 ago"), "{md}");
        assert!(md.contains("no VOMS attributes"), "{md}");
        assert!(md.contains("**Warning:** the proxy expired 03:00:05 ago"), "{md}");
        assert!(md.contains("/CN=```\\nevil"), "{md}");
        assert!(md.contains("````text"), "{md}");
        assert_eq!(md.matches("Warning").count(), 1);

        info.not_after = now + chrono::Duration::minutes(30);
        let md = info.to_markdown(now);
        assert!(md.contains("the proxy expires in 00:30:00"), "{md}");
        assert_eq!(info.seconds_left(now), 1800);
    }

    #[test]
    fn markdown_warns_about_a_1024_bit_proxy() {
        let dir = tempfile::tempdir().unwrap();
        make_user(dir.path());
        let proxy = make_proxy(dir.path(), PROXY_DN, 1024, Some(INHERIT_ALL));
        let path = write_proxy_file(dir.path(), &(proxy + &read(dir.path(), "user.crt")));
        let info = read_proxy_info(&path).unwrap();
        assert_eq!(info.key_bits, Some(1024));
        let md = info.to_markdown(Utc::now());
        assert!(md.contains(USER_DN), "{md}");
        assert!(md.contains("timeleft"), "{md}");
        assert!(md.contains("no VOMS attributes"), "{md}");
        let warnings: Vec<&str> = md.lines().filter(|l| l.contains("Warning")).collect();
        assert_eq!(warnings.len(), 1, "{md}");
        assert!(warnings[0].contains("1024") && warnings[0].contains("2048"), "{md}");
    }

    #[test]
    fn locate_proxy_order() {
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let all = env(&[("RUCIO_CLIENT_PROXY", "/a/rucio"), ("X509_USER_PROXY", "/a/x509")]);
        let get = |m: &HashMap<String, String>| {
            let m = m.clone();
            move |k: &str| m.get(k).cloned()
        };
        let cfg = Path::new("/a/cfg");

        let var = get(&all);
        assert_eq!(locate_proxy(&var, Some(cfg), Some(0)), Some(PathBuf::from("/a/rucio")));
        let var = get(&env(&[("X509_USER_PROXY", "/a/x509"), ("RUCIO_CLIENT_PROXY", "")]));
        assert_eq!(locate_proxy(&var, Some(cfg), None), Some(cfg.to_path_buf()));
        assert_eq!(locate_proxy(&var, None, None), Some(PathBuf::from("/a/x509")));

        let none = get(&env(&[]));
        assert_eq!(locate_proxy(&none, None, None), None);
        // A uid no real account has, so the default file is ours alone.
        let uid = 3_000_000_000 + std::process::id();
        let default = PathBuf::from(format!("/tmp/x509up_u{uid}"));
        assert_eq!(locate_proxy(&none, None, Some(uid)), None);
        std::fs::write(&default, b"").unwrap();
        let found = locate_proxy(&none, None, Some(uid));
        std::fs::remove_file(&default).unwrap();
        assert_eq!(found, Some(default));
    }
}
