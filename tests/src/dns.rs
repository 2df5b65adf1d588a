//! A DNS server on loopback for a test: answers A queries for the names it is given (exact, or
//! `*-suffix` for any label ending so), refuses the rest with NXDOMAIN, and records every
//! question. Envoy's c-ares resolver is pointed at it to run a config that resolves Google's
//! names (envoy/envoy.yaml) against the local emulators. UDP only; one question per query.
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::net::UdpSocket;

/// How long answers may be cached, in seconds.
const TTL_S: u32 = 30;
const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u8 = 1;
const RCODE_NXDOMAIN: u8 = 3;

/// Which addresses names resolve to: `("oauth2.googleapis.com", ip)` or
/// `("*-aiplatform.googleapis.com", ip)` (any name that ends with `-aiplatform.googleapis.com`).
#[derive(Clone, Debug)]
pub struct Zone(Vec<(String, Ipv4Addr)>);

impl Zone {
    pub fn new(records: &[(&str, Ipv4Addr)]) -> Zone {
        Zone(
            records
                .iter()
                .map(|(name, ip)| (name.to_ascii_lowercase(), *ip))
                .collect(),
        )
    }

    /// The address for `name`, if the zone has one.
    pub fn lookup(&self, name: &str) -> Option<Ipv4Addr> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.0.iter().find_map(|(pattern, ip)| {
            let matches = match pattern.strip_prefix('*') {
                // `*-x.y` stands for at least one character before `-x.y`, within the first label.
                Some(suffix) => name
                    .strip_suffix(suffix)
                    .is_some_and(|head| !head.is_empty() && !head.contains('.')),
                None => name == *pattern,
            };
            matches.then_some(*ip)
        })
    }
}

/// A question the server was asked: the name and the record type (1 = A, 28 = AAAA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
}

/// The running server; stops when dropped.
pub struct DnsServer {
    pub addr: SocketAddr,
    questions: Arc<Mutex<Vec<Question>>>,
    task: tokio::task::JoinHandle<()>,
}

impl DnsServer {
    /// Listens on 127.0.0.1, a free port. Must be called inside a Tokio runtime.
    pub async fn start(zone: Zone) -> anyhow::Result<DnsServer> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the DNS server's UDP socket")?;
        let addr = socket.local_addr()?;
        let questions = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&questions);
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let query = buf.get(..len).unwrap_or_default();
                let (reply, question) = answer(&zone, query);
                if let Some(question) = question {
                    log.lock().unwrap_or_else(|e| e.into_inner()).push(question);
                }
                if let Some(reply) = reply {
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        Ok(DnsServer {
            addr,
            questions,
            task,
        })
    }

    /// Every question asked so far, in order.
    pub fn questions(&self) -> Vec<Question> {
        self.questions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The reply to one query (None for something that is not a query at all) and its question.
fn answer(zone: &Zone, query: &[u8]) -> (Option<Vec<u8>>, Option<Question>) {
    let Some(header) = query.get(..12) else {
        return (None, None);
    };
    let is_response = header[2] & 0x80 != 0;
    if is_response {
        return (None, None);
    }
    let Some((name, question_end)) = read_question(query) else {
        return (Some(reply_header(header, RCODE_FORMERR, 0, 0)), None);
    };
    let qtype = u16::from_be_bytes([query[question_end - 4], query[question_end - 3]]);
    let qclass = u16::from_be_bytes([query[question_end - 2], query[question_end - 1]]);
    let question = Question {
        name: name.clone(),
        qtype,
    };
    let (rcode, address) = match zone.lookup(&name) {
        None => (RCODE_NXDOMAIN, None),
        // A known name: an A record for A questions, no records (NODATA) for other types.
        Some(ip) => (0, (qtype == TYPE_A && qclass == CLASS_IN).then_some(ip)),
    };
    let mut reply = reply_header(header, rcode, 1, u16::from(address.is_some()));
    reply.extend_from_slice(&query[12..question_end]);
    if let Some(ip) = address {
        // The name as a pointer to the question's (offset 12).
        reply.extend_from_slice(&[0xc0, 12]);
        reply.extend_from_slice(&TYPE_A.to_be_bytes());
        reply.extend_from_slice(&CLASS_IN.to_be_bytes());
        reply.extend_from_slice(&TTL_S.to_be_bytes());
        reply.extend_from_slice(&4u16.to_be_bytes());
        reply.extend_from_slice(&ip.octets());
    }
    (Some(reply), Some(question))
}

/// The first question's name (dotted, lowercase) and where the question ends (after its type
/// and class). Compression pointers do not occur in a query's only question.
fn read_question(query: &[u8]) -> Option<(String, usize)> {
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    if qdcount != 1 {
        return None;
    }
    let mut labels = Vec::new();
    let mut at = 12;
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        let label = query.get(at..at + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += len;
    }
    let end = at + 4;
    query.get(at..end)?;
    Some((labels.join("."), end))
}

/// A response header for `query_header`: same id, opcode and RD; QR, AA and RA set.
fn reply_header(query_header: &[u8], rcode: u8, qdcount: u16, ancount: u16) -> Vec<u8> {
    let mut header = Vec::with_capacity(512);
    header.extend_from_slice(&query_header[..2]);
    let opcode_and_rd = query_header[2] & 0x79;
    header.push(0x80 | 0x04 | opcode_and_rd);
    header.push(0x80 | (rcode & 0x0f));
    header.extend_from_slice(&qdcount.to_be_bytes());
    header.extend_from_slice(&ancount.to_be_bytes());
    header.extend_from_slice(&[0, 0, 0, 0]);
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    fn zone() -> Zone {
        Zone::new(&[
            ("oauth2.googleapis.com", Ipv4Addr::new(127, 0, 0, 3)),
            ("*-aiplatform.googleapis.com", Ipv4Addr::new(127, 0, 0, 2)),
        ])
    }

    #[test]
    fn wildcard_covers_one_label_only() {
        let zone = zone();
        assert_eq!(
            zone.lookup("us-central1-aiplatform.googleapis.com."),
            Some(Ipv4Addr::new(127, 0, 0, 2))
        );
        assert_eq!(zone.lookup("a.b-aiplatform.googleapis.com"), None);
        assert_eq!(zone.lookup("-aiplatform.googleapis.com"), None);
        assert_eq!(
            zone.lookup("OAUTH2.googleapis.com"),
            Some(Ipv4Addr::new(127, 0, 0, 3))
        );
        assert_eq!(zone.lookup("example.com"), None);
    }

    #[test]
    fn a_query_gets_one_a_record_with_the_question_echoed() {
        let q = query("europe-west4-aiplatform.googleapis.com", TYPE_A);
        let (reply, question) = answer(&zone(), &q);
        let reply = reply.unwrap();
        assert_eq!(
            question.unwrap().name,
            "europe-west4-aiplatform.googleapis.com"
        );
        assert_eq!(&reply[..2], &[0xab, 0xcd]);
        assert_eq!(reply[2] & 0x80, 0x80, "QR");
        assert_eq!(reply[3] & 0x0f, 0, "NOERROR");
        assert_eq!(&reply[6..8], &[0, 1], "one answer");
        assert_eq!(&reply[12..q.len()], &q[12..]);
        assert_eq!(&reply[reply.len() - 4..], &[127, 0, 0, 2]);
    }

    #[test]
    fn unknown_names_are_nxdomain_and_aaaa_is_nodata() {
        let (reply, _) = answer(&zone(), &query("example.com", TYPE_A));
        let reply = reply.unwrap();
        assert_eq!(reply[3] & 0x0f, RCODE_NXDOMAIN);
        assert_eq!(&reply[6..8], &[0, 0]);
        let (reply, _) = answer(&zone(), &query("oauth2.googleapis.com", 28));
        let reply = reply.unwrap();
        assert_eq!(reply[3] & 0x0f, 0);
        assert_eq!(&reply[6..8], &[0, 0]);
    }
}
