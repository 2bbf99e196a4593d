//! The Linux kernel as an oracle for the compiled engine, through `sgeval export nftables`.
//!
//! Each run owns an anonymous network namespace, entered by a dedicated thread with
//! `unshare(CLONE_NEWNET)` (the namespace dies with the thread, also on panic). In it: a tun
//! device `sgo0` holding the endpoint's addresses, sgeval's export loaded as
//! `table inet sgeval`, and a witness `table inet oracle` whose chains on the same hook
//! record each packet's id (IPv4 IP ID, IPv6 flow label) when it arrives (priority -300),
//! when it reaches the hook (-100) and when the sgeval chain has accepted it (+100), and then
//! drop it: nothing is delivered and no connection is tracked, so packets stay independent.
//! Ingress packets are written to the tun device; egress packets are sent from inside the
//! namespace through raw sockets (`IPPROTO_RAW`, the header included; a drop answers EPERM).
//! Every packet's kernel verdict is compared with [`sgeval::compile::Engine`]'s; on a
//! mismatch the packet is sent once more with `meta nftrace set 1` and the kernel's trace of
//! the sgeval chains is printed.
//!
//! Stateful cases (replies to the endpoint's own connections admitted, unsolicited packets
//! dropped) run in namespaces of their own.
//!
//! Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), `nft`, `ip` and `/dev/net/tun`. Otherwise each
//! test prints `SKIP nft-oracle: <reason>` and passes, unless `SGEVAL_NFT_ORACLE=require`
//! (CI as root), which turns a skip into a failure; `SGEVAL_NFT_ORACLE=off` skips.
//! `SGEVAL_NFT_ORACLE_PACKETS` sets the packets per provider (default 100,000).
#![cfg(target_os = "linux")]

use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sgeval::compile::Engine;
use sgeval::group::AddressEntry;
use sgeval::nftables::{self, Export, Key, Scope};
use sgeval::{Cloud, ConnState, Direction, EndpointKey, Packet, Remote, Verdict};

// ---------------------------------------------------------------------------------------
// Preflight

/// Why the oracle cannot run here, or `None` when it can.
fn unavailable() -> Option<String> {
    if std::env::var("SGEVAL_NFT_ORACLE").as_deref() == Ok("off") {
        return Some("SGEVAL_NFT_ORACLE=off".into());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for (tool, arg) in [("nft", "--version"), ("ip", "-V")] {
        match Command::new(tool).arg(arg).output() {
            Ok(o) if o.status.success() => {}
            _ => {
                return Some(format!(
                    "`{tool} {arg}` does not run (install nftables and iproute2)"
                ))
            }
        }
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    let probe = std::thread::spawn(|| {
        // SAFETY: unshare affects only this thread, which ends right after.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            Some(format!(
                "unshare(CLONE_NEWNET): {}",
                std::io::Error::last_os_error()
            ))
        } else {
            None
        }
    });
    probe
        .join()
        .unwrap_or_else(|_| Some("namespace probe panicked".into()))
}

/// Whether to run: prints the skip reason, panics when a skip is not allowed.
fn available() -> bool {
    match unavailable() {
        None => true,
        Some(reason) => {
            if std::env::var("SGEVAL_NFT_ORACLE").as_deref() == Ok("require") {
                panic!("nft-oracle required (SGEVAL_NFT_ORACLE=require) but unavailable: {reason}");
            }
            println!("SKIP nft-oracle: {reason}");
            false
        }
    }
}

/// Runs `f` on a new thread inside a fresh anonymous network namespace.
fn in_netns<T: Send + 'static>(f: impl FnOnce() -> Result<T, String> + Send + 'static) -> Result<T, String> {
    std::thread::spawn(move || {
        // SAFETY: unshare changes only this thread's namespace; children it spawns inherit it.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!(
                "unshare(CLONE_NEWNET): {}",
                std::io::Error::last_os_error()
            ));
        }
        f()
    })
    .join()
    .map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "netns thread panicked".into())
    })?
}

fn run(cmd: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .ok_or("no stdin")?
            .write_all(text.as_bytes())
            .map_err(|e| format!("{cmd} stdin: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{cmd} {}` failed: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            stdin.unwrap_or("")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---------------------------------------------------------------------------------------
// The namespace: tun device, addresses, tables

/// The tun device's name, unless the run keys endpoints by interface.
const TUN: &str = "sgo0";
/// DSCP the injected packets carry, so the witness ignores the stack's own packets.
const MARK: u8 = 11;

struct Netns {
    tun: File,
}

impl Netns {
    /// Sets up the namespace this thread is in: `sgo0` up with `locals` as host addresses
    /// and default routes through it, no reverse-path filter.
    fn setup(locals: &[IpAddr]) -> Result<Netns, String> {
        Netns::setup_named(TUN, locals)
    }

    /// As [`Netns::setup`], with the tun device named `tun_name`.
    fn setup_named(tun_name: &str, locals: &[IpAddr]) -> Result<Netns, String> {
        let tun = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .map_err(|e| format!("/dev/net/tun: {e}"))?;
        let mut ifr = [0u8; 40];
        ifr[..tun_name.len()].copy_from_slice(tun_name.as_bytes());
        let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as i16;
        ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
        // SAFETY: TUNSETIFF reads and writes a struct ifreq (40 bytes) we own.
        if unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, ifr.as_mut_ptr()) } != 0 {
            return Err(format!("TUNSETIFF: {}", std::io::Error::last_os_error()));
        }
        let mut batch = format!("link set dev lo up\nlink set dev {tun_name} up\n");
        for a in locals {
            match a {
                IpAddr::V4(a) => batch.push_str(&format!("addr add {a}/32 dev {tun_name}\n")),
                IpAddr::V6(a) => batch.push_str(&format!("addr add {a}/128 dev {tun_name} nodad\n")),
            }
        }
        batch.push_str(&format!(
            "route add 0.0.0.0/0 dev {tun_name}\nroute add ::/0 dev {tun_name}\n"
        ));
        run("ip", &["-batch", "-"], Some(&batch))?;
        for conf in ["all", "default", tun_name] {
            std::fs::write(format!("/proc/sys/net/ipv4/conf/{conf}/rp_filter"), "0")
                .map_err(|e| format!("rp_filter: {e}"))?;
        }
        Ok(Netns { tun })
    }

    fn write(&mut self, packet: &[u8]) -> Result<(), String> {
        self.tun.write_all(packet).map_err(|e| format!("tun write: {e}"))
    }
}

/// The witness table: which packets arrived (ingress: prerouting; egress: output, priority
/// -300), reached the hook (input or output, -100), and were accepted by every chain of
/// lower priority there, the sgeval chain (+100). Ids are at most 65,535 per family and
/// batch, so the sets hold that many.
fn witness() -> String {
    let mut t = String::from("table inet oracle {\n");
    for stage in ["arr", "loc", "acc"] {
        t.push_str(&format!(
            "set {stage}4 {{ typeof ip id; flags dynamic; size 65536; }}\n\
             set {stage}6 {{ typeof ip6 flowlabel; flags dynamic; size 65536; }}\n"
        ));
        for f in ["4", "6"] {
            t.push_str(&format!(
                "counter {stage}{f}_try {{}}\ncounter {stage}{f}_add {{}}\n"
            ));
        }
    }
    for (chain, hook, prio, stage, drop) in [
        ("arrive_in", "prerouting", -300, "arr", false),
        ("local_in", "input", -100, "loc", false),
        ("verdict_in", "input", 100, "acc", true),
        ("arrive_out", "output", -300, "arr", false),
        ("local_out", "output", -100, "loc", false),
        ("verdict_out", "output", 100, "acc", true),
    ] {
        t.push_str(&format!(
            "chain {chain} {{ type filter hook {hook} priority {prio}; policy accept;\n\
             ip dscp {MARK} counter name \"{stage}4_try\" add @{stage}4 {{ ip id }} counter name \"{stage}4_add\"\n\
             ip6 dscp {MARK} counter name \"{stage}6_try\" add @{stage}6 {{ ip6 flowlabel }} counter name \"{stage}6_add\"\n"
        ));
        if drop {
            t.push_str(&format!("ip dscp {MARK} drop\nip6 dscp {MARK} drop\n"));
        }
        t.push_str("}\n");
    }
    t.push_str("}\n");
    t
}

/// The witness, replacing the one loaded (emptying its sets), after `before` (an export).
fn load_witness(before: &str) -> Result<(), String> {
    let text = format!(
        "{before}table inet oracle\ndelete table inet oracle\n{}",
        witness()
    );
    run("nft", &["-f", "-"], Some(&text)).map(|_| ())
}

fn counters() -> Result<HashMap<String, u64>, String> {
    let out = run(
        "nft",
        &["-j", "reset", "counters", "table", "inet", "oracle"],
        None,
    )?;
    let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| format!("counters json: {e}"))?;
    let mut m = HashMap::new();
    for item in v["nftables"].as_array().into_iter().flatten() {
        if let Some(c) = item.get("counter") {
            if let (Some(name), Some(p)) = (c["name"].as_str(), c["packets"].as_u64()) {
                m.insert(name.to_owned(), p);
            }
        }
    }
    Ok(m)
}

fn set_elements(name: &str) -> Result<BTreeSet<u32>, String> {
    let out = run("nft", &["-j", "list", "set", "inet", "oracle", name], None)?;
    let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| format!("set json: {e}"))?;
    let mut s = BTreeSet::new();
    for item in v["nftables"].as_array().into_iter().flatten() {
        if let Some(set) = item.get("set") {
            for e in set["elem"].as_array().into_iter().flatten() {
                let n = e.as_u64().or_else(|| e["elem"]["val"].as_u64());
                s.insert(n.ok_or_else(|| format!("set element `{e}`"))? as u32);
            }
        }
    }
    Ok(s)
}

/// The accepted ids of each family after injecting `n4` IPv4 and `n6` IPv6 packets; fails
/// loudly when a packet did not reach the hook or a set insert failed.
fn accepted(n4: u64, n6: u64) -> Result<[BTreeSet<u32>; 2], String> {
    let c = counters()?;
    let get = |k: &str| c.get(k).copied().unwrap_or(0);
    for f in ["4", "6"] {
        for stage in ["arr", "loc", "acc"] {
            let (t, a) = (get(&format!("{stage}{f}_try")), get(&format!("{stage}{f}_add")));
            if t != a {
                return Err(format!("witness {stage}{f}: {t} packets, {a} set inserts"));
            }
        }
        let want = if f == "4" { n4 } else { n6 };
        for stage in ["arr", "loc"] {
            let got = get(&format!("{stage}{f}_add"));
            if got != want {
                return Err(format!(
                    "witness {stage}{f}: {got} of {want} injected IPv{f} packets (routing or injection lost some)"
                ));
            }
        }
    }
    let mut out: [BTreeSet<u32>; 2] = Default::default();
    for (i, f) in ["4", "6"].iter().enumerate() {
        let want = get(&format!("acc{f}_add")) as usize;
        // A dump that overlaps a set resize can miss elements: read until complete.
        for _ in 0..20 {
            out[i] = set_elements(&format!("acc{f}"))?;
            if out[i].len() == want {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if out[i].len() != want {
            return Err(format!("acc{f}: {} elements, {want} inserts", out[i].len()));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Packets on the wire

fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in *part {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The wire bytes of `p` with id `id` (IPv4 IP ID or IPv6 flow label), checksums computed.
fn wire(p: &Packet, id: u32) -> Vec<u8> {
    finish(p, id, l4_body(p, id))
}

/// The transport header of `p` (a TCP SYN, an SCTP INIT, a DCCP Request, ...), checksum
/// field zero.
fn l4_body(p: &Packet, id: u32) -> Vec<u8> {
    match p.protocol {
        6 => {
            let mut h = vec![0u8; 20];
            h[0..2].copy_from_slice(&p.src_port.to_be_bytes());
            h[2..4].copy_from_slice(&p.dst_port.to_be_bytes());
            h[4..8].copy_from_slice(&id.to_be_bytes());
            h[12] = 5 << 4;
            h[13] = 0x02; // SYN
            h[14..16].copy_from_slice(&64240u16.to_be_bytes());
            h
        }
        17 | 136 => {
            let mut h = vec![0u8; 12];
            h[0..2].copy_from_slice(&p.src_port.to_be_bytes());
            h[2..4].copy_from_slice(&p.dst_port.to_be_bytes());
            // UDP: length; UDP-Lite: checksum coverage (8 = the header).
            h[4..6].copy_from_slice(&(if p.protocol == 17 { 12u16 } else { 8 }).to_be_bytes());
            h
        }
        33 => {
            let mut h = vec![0u8; 20];
            h[0..2].copy_from_slice(&p.src_port.to_be_bytes());
            h[2..4].copy_from_slice(&p.dst_port.to_be_bytes());
            h[4] = 5; // data offset in words
            h[8] = 1; // type Request, X = 1
            h
        }
        132 => {
            let mut h = vec![0u8; 32];
            h[0..2].copy_from_slice(&p.src_port.to_be_bytes());
            h[2..4].copy_from_slice(&p.dst_port.to_be_bytes());
            // INIT chunk: type 1, length 20, initiate tag, a_rwnd, streams, TSN.
            h[12] = 1;
            h[14..16].copy_from_slice(&20u16.to_be_bytes());
            h[16..20].copy_from_slice(&(id | 1).to_be_bytes());
            h[20..24].copy_from_slice(&65535u32.to_be_bytes());
            h[24..26].copy_from_slice(&1u16.to_be_bytes());
            h[26..28].copy_from_slice(&1u16.to_be_bytes());
            h[28..32].copy_from_slice(&id.to_be_bytes());
            let c = crc32c(&h);
            h[8..12].copy_from_slice(&c.to_le_bytes());
            h
        }
        1 | 58 => {
            let mut h = vec![0u8; 16];
            h[0] = p.icmp_type;
            h[1] = p.icmp_code;
            h[4..8].copy_from_slice(&id.to_be_bytes());
            h
        }
        47 => vec![0, 0, 0x08, 0x00, 0, 0, 0, 0],
        _ => vec![0u8; 8],
    }
}

/// `l4` behind `p`'s IP header, with the transport checksum (where the protocol has one
/// at a fixed place) and the IPv4 header checksum computed.
fn finish(p: &Packet, id: u32, mut l4: Vec<u8>) -> Vec<u8> {
    let len = l4.len() as u16;
    let pseudo: Vec<u8> = match (p.src, p.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut v = Vec::with_capacity(12);
            v.extend_from_slice(&s.octets());
            v.extend_from_slice(&d.octets());
            v.extend_from_slice(&[0, p.protocol]);
            v.extend_from_slice(&len.to_be_bytes());
            v
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut v = Vec::with_capacity(40);
            v.extend_from_slice(&s.octets());
            v.extend_from_slice(&d.octets());
            v.extend_from_slice(&u32::from(len).to_be_bytes());
            v.extend_from_slice(&[0, 0, 0, p.protocol]);
            v
        }
        _ => unreachable!("the generator keeps families apart"),
    };
    let at = match p.protocol {
        6 => Some(16),
        17 | 136 => Some(6),
        33 => Some(6),
        58 if p.src.is_ipv6() => Some(2),
        1 if p.src.is_ipv4() => Some(2),
        _ => None,
    };
    if let Some(at) = at {
        let pseudo_part: &[u8] = if p.protocol == 1 { &[] } else { &pseudo };
        let mut c = checksum(&[pseudo_part, &l4]);
        if c == 0 && p.protocol == 17 {
            c = 0xffff;
        }
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut out = Vec::with_capacity(40 + l4.len());
    match (p.src, p.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&[0x45, MARK << 2]);
            out.extend_from_slice(&(20 + len).to_be_bytes());
            out.extend_from_slice(&(id as u16).to_be_bytes());
            out.extend_from_slice(&[0, 0, 64, p.protocol, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            let c = checksum(&[&out[..20]]);
            out[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let first = (6u32 << 28) | (u32::from(MARK << 2) << 20) | (id & 0xfffff);
            out.extend_from_slice(&first.to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&[p.protocol, 64]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        _ => unreachable!(),
    }
    out.extend_from_slice(&l4);
    out
}

/// Raw sockets of both families that send whole IP packets from inside the namespace.
struct Raw {
    v4: OwnedFd,
    v6: OwnedFd,
}

impl Raw {
    fn open() -> Result<Raw, String> {
        let open = |family| {
            // SAFETY: socket has no memory preconditions; the fd is owned at once.
            let fd = unsafe { libc::socket(family, libc::SOCK_RAW, libc::IPPROTO_RAW) };
            if fd < 0 {
                Err(format!("raw socket: {}", std::io::Error::last_os_error()))
            } else {
                // SAFETY: fd is a fresh descriptor nobody else owns.
                Ok(unsafe { OwnedFd::from_raw_fd(fd) })
            }
        };
        Ok(Raw {
            v4: open(libc::AF_INET)?,
            v6: open(libc::AF_INET6)?,
        })
    }

    /// Sends a packet; `Ok(false)` when netfilter dropped it on output (EPERM).
    fn send(&self, bytes: &[u8], dst: IpAddr) -> Result<bool, String> {
        // SAFETY: the sockaddr structs are zeroed plain data, filled, and passed with their
        // sizes; bytes outlives the call.
        let r = unsafe {
            match dst {
                IpAddr::V4(d) => {
                    let mut sa: libc::sockaddr_in = std::mem::zeroed();
                    sa.sin_family = libc::AF_INET as libc::sa_family_t;
                    sa.sin_addr.s_addr = u32::from_ne_bytes(d.octets());
                    libc::sendto(
                        self.v4.as_raw_fd(),
                        bytes.as_ptr().cast(),
                        bytes.len(),
                        0,
                        (&sa as *const libc::sockaddr_in).cast(),
                        std::mem::size_of::<libc::sockaddr_in>() as u32,
                    )
                }
                IpAddr::V6(d) => {
                    let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
                    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                    sa.sin6_addr.s6_addr = d.octets();
                    libc::sendto(
                        self.v6.as_raw_fd(),
                        bytes.as_ptr().cast(),
                        bytes.len(),
                        0,
                        (&sa as *const libc::sockaddr_in6).cast(),
                        std::mem::size_of::<libc::sockaddr_in6>() as u32,
                    )
                }
            }
        };
        if r >= 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EPERM) {
            Ok(false)
        } else {
            Err(format!("sendto {dst}: {e}"))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Generating packets

/// splitmix64: seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Addresses routing drops before netfilter's input hook or that a socket cannot send to.
fn martian(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => {
            let o = a.octets();
            o[0] == 0 || o[0] == 127 || o[0] >= 224
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            a.is_unspecified()
                || a.is_loopback()
                || s[0] >= 0xff00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0))
        }
    }
}

fn step(a: IpAddr, up: bool) -> Option<IpAddr> {
    match a {
        IpAddr::V4(x) => {
            let n = u32::from(x);
            Some(IpAddr::V4(Ipv4Addr::from(if up {
                n.checked_add(1)?
            } else {
                n.checked_sub(1)?
            })))
        }
        IpAddr::V6(x) => {
            let n = u128::from(x);
            Some(IpAddr::V6(Ipv6Addr::from(if up {
                n.checked_add(1)?
            } else {
                n.checked_sub(1)?
            })))
        }
    }
}

/// The places where the cloud's decisions change, by family.
struct Edges {
    locals: [Vec<IpAddr>; 2],
    remotes: [Vec<IpAddr>; 2],
    ports: Vec<u16>,
    protocols: Vec<u8>,
    icmp: Vec<(u8, u8)>,
}

fn fam(a: &IpAddr) -> usize {
    usize::from(a.is_ipv6())
}

impl Edges {
    /// `extra_locals`: also give the tun the edges of the rules' local prefixes and an
    /// address of each family (only when one endpoint's table decides every packet).
    fn of(cloud: &Cloud, endpoint: EndpointKey, extra_locals: bool) -> Edges {
        let mut around = BTreeSet::new();
        let mut locals = BTreeSet::new();
        let add_edges = |set: &mut BTreeSet<IpAddr>, first: IpAddr, last: IpAddr| {
            set.insert(first);
            set.insert(last);
            set.extend(step(first, false));
            set.extend(step(last, true));
        };
        let mut ports: BTreeSet<u16> = [0, 1, 22, 80, 443, 1024, 65535].into_iter().collect();
        let mut protocols: BTreeSet<u8> = [6, 17, 1, 58, 47, 132, 33, 136, 4, 50, 89, 255]
            .into_iter()
            .collect();
        let mut icmp: BTreeSet<(u8, u8)> = [(8, 0), (0, 0), (3, 3), (128, 0), (129, 0), (135, 0)]
            .into_iter()
            .collect();
        for e in cloud.endpoints() {
            for &ip in &e.ips {
                add_edges(&mut around, ip, ip);
            }
        }
        for ag in cloud.address_groups() {
            for entry in &ag.entries {
                match *entry {
                    AddressEntry::Net(n) => add_edges(&mut around, n.network(), n.broadcast()),
                    AddressEntry::Range(a, b) => add_edges(&mut around, a, b),
                }
            }
        }
        for g in cloud.groups() {
            for r in &g.rules {
                if let Remote::Cidr(n) = r.remote {
                    add_edges(&mut around, n.network(), n.broadcast());
                }
                if let Some(n) = r.local {
                    add_edges(&mut locals, n.network(), n.broadcast());
                }
                protocols.extend(r.protocol);
                for range in r.dst_ports.0.iter().chain(r.src_ports.0.iter()) {
                    ports.extend([
                        range.lo,
                        range.hi,
                        range.lo.saturating_sub(1),
                        range.hi.saturating_add(1),
                    ]);
                }
                if let Some(t) = r.icmp.icmp_type {
                    let c = r.icmp.icmp_code.unwrap_or(0);
                    icmp.extend([
                        (t, c),
                        (t, c.wrapping_add(1)),
                        (t.wrapping_add(1), c),
                        (t, c.wrapping_sub(1)),
                    ]);
                }
            }
        }
        let own: Vec<IpAddr> = cloud
            .endpoint(endpoint)
            .map(|e| e.ips.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|a| !martian(*a))
            .collect();
        let mut l: [Vec<IpAddr>; 2] = Default::default();
        for &a in &own {
            l[fam(&a)].push(a);
        }
        if extra_locals {
            for a in locals.into_iter().filter(|a| !martian(*a)) {
                if l[fam(&a)].len() < 24 && !l[fam(&a)].contains(&a) {
                    l[fam(&a)].push(a);
                }
            }
            if l[0].is_empty() {
                l[0].push("100.64.0.1".parse().expect("address"));
            }
            if l[1].is_empty() {
                l[1].push("2001:db8:ffff:1::1".parse().expect("address"));
            }
        }
        let mut remotes: [Vec<IpAddr>; 2] = Default::default();
        for a in around.into_iter().filter(|a| !martian(*a)) {
            if !l[fam(&a)].contains(&a) {
                remotes[fam(&a)].push(a);
            }
        }
        Edges {
            locals: l,
            remotes,
            ports: ports.into_iter().collect(),
            protocols: protocols.into_iter().collect(),
            icmp: icmp.into_iter().collect(),
        }
    }

    fn random_remote(&self, rng: &mut Rng, f: usize) -> IpAddr {
        loop {
            let a = if f == 0 {
                IpAddr::V4(Ipv4Addr::from(rng.next() as u32))
            } else if self.remotes[1].is_empty() || rng.chance(50) {
                // Mostly global unicast; the rule prefixes' neighbourhood comes from edges.
                IpAddr::V6(Ipv6Addr::from(
                    (u128::from(rng.next()) << 64 | u128::from(rng.next())) >> 3 | 1 << 125,
                ))
            } else {
                let base = rng.pick(&self.remotes[f]);
                let IpAddr::V6(b) = base else { continue };
                IpAddr::V6(Ipv6Addr::from(u128::from(b) ^ u128::from(rng.next() & 0xffff)))
            };
            if !martian(a) && !self.locals[f].contains(&a) {
                return a;
            }
        }
    }

    /// A new packet for `direction`, `None` when the family has no local address.
    fn packet(&self, rng: &mut Rng, direction: Direction) -> Option<Packet> {
        let f = match (self.locals[0].is_empty(), self.locals[1].is_empty()) {
            (true, true) => return None,
            (true, false) => 1,
            (false, true) => 0,
            _ => rng.below(2),
        };
        let local = rng.pick(&self.locals[f]);
        let remote = if !self.remotes[f].is_empty() && rng.chance(70) {
            rng.pick(&self.remotes[f])
        } else {
            self.random_remote(rng, f)
        };
        let mut protocol = if rng.chance(85) {
            rng.pick(&self.protocols)
        } else {
            rng.next() as u8
        };
        // IPv6 next headers the kernel walks over are outside sgeval's packet model.
        if f == 1 && [0u8, 43, 44, 51, 59, 60].contains(&protocol) {
            protocol = 58;
        }
        let (src, dst) = match direction {
            Direction::Ingress => (remote, local),
            Direction::Egress => (local, remote),
        };
        let mut p = Packet::new(src, dst, protocol);
        if sgeval::Protocol(protocol).has_ports() {
            let port = |rng: &mut Rng| {
                if rng.chance(75) {
                    rng.pick(&self.ports)
                } else {
                    rng.next() as u16
                }
            };
            p.src_port = port(rng);
            p.dst_port = port(rng);
        }
        if p.is_icmp() {
            let (t, c) = if rng.chance(75) {
                rng.pick(&self.icmp)
            } else {
                (rng.next() as u8, rng.next() as u8)
            };
            p.icmp_type = t;
            p.icmp_code = c;
        }
        Some(p)
    }
}

// ---------------------------------------------------------------------------------------
// One run: an endpoint's export against the engine, both directions

#[derive(Default, Debug)]
struct Tally {
    packets: usize,
    allowed: usize,
    mismatches: Vec<String>,
}

/// The kernel's trace of the sgeval chains for one packet, sent again with tracing on.
fn trace(bytes: &[u8], packet: &Packet, direction: Direction, netns: &mut Netns, raw: &Raw) -> String {
    let key = if packet.src.is_ipv4() {
        format!("ip id {}", u16::from_be_bytes([bytes[4], bytes[5]]))
    } else {
        format!(
            "ip6 flowlabel {}",
            u32::from_be_bytes([0, bytes[1] & 0x0f, bytes[2], bytes[3]])
        )
    };
    let hook = match direction {
        Direction::Ingress => "prerouting",
        Direction::Egress => "output",
    };
    let rules = format!(
        "table inet trace {{\n chain t {{\n type filter hook {hook} priority -400;\n {key} meta nftrace set 1\n }}\n}}\n"
    );
    if let Err(e) = run("nft", &["-f", "-"], Some(&rules)) {
        return format!("(no trace: {e})");
    }
    let Ok(mut monitor) = Command::new("nft")
        .args(["monitor", "trace"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return "(no trace: nft monitor did not start)".into();
    };
    std::thread::sleep(Duration::from_millis(300));
    let _ = match direction {
        Direction::Ingress => netns.write(bytes).map(|_| true),
        Direction::Egress => raw.send(bytes, packet.dst),
    };
    std::thread::sleep(Duration::from_millis(300));
    let _ = monitor.kill();
    let mut text = String::new();
    if let Some(mut out) = monitor.stdout.take() {
        let _ = out.read_to_string(&mut text);
    }
    let _ = monitor.wait();
    let _ = run("nft", &["delete", "table", "inet", "trace"], None);
    text.lines()
        .filter(|l| l.contains("inet sgeval"))
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which export a run loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `--endpoint X`: every packet is X's.
    One,
    /// `--all --key address`: X's packets are those to (ingress) or from (egress) its
    /// addresses.
    ByAddress,
    /// `--all --key interface`: the tun device is named like X.
    ByInterface,
}

impl Shape {
    /// The shape of run number `n`: one in three of each, where the endpoint's name can
    /// be an interface name.
    fn nth(n: usize, cloud: &Cloud, endpoint: EndpointKey) -> Shape {
        let name = cloud.endpoint(endpoint).map_or("", |e| e.name.as_str());
        let ifname = !name.is_empty()
            && name.len() <= 15
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        match n % 3 {
            1 if ifname => Shape::ByInterface,
            2 => Shape::ByAddress,
            _ => Shape::One,
        }
    }
}

/// Loads `cloud`'s export (of `shape`) in a fresh namespace and compares `per_direction`
/// packets per direction at `endpoint` with the engine.
fn oracle_run(
    cloud: &Cloud,
    endpoint: EndpointKey,
    shape: Shape,
    per_direction: usize,
    seed: u64,
) -> Result<Tally, String> {
    let export = Export {
        scope: match shape {
            Shape::One => Scope::Endpoint(endpoint),
            Shape::ByAddress => Scope::All(Key::Address),
            Shape::ByInterface => Scope::All(Key::Interface),
        },
        directions: Direction::ALL.to_vec(),
    };
    let text = nftables::table(cloud, &export).map_err(|e| format!("export refused: {e}"))?;
    let tun_name = match shape {
        Shape::ByInterface => cloud
            .endpoint(endpoint)
            .map_or(TUN, |e| e.name.as_str())
            .to_owned(),
        _ => TUN.to_owned(),
    };
    let engine = Engine::build(cloud).map_err(|e| format!("engine: {e}"))?;
    // Keyed by address, only the endpoint's own addresses are its packets.
    let edges = Edges::of(cloud, endpoint, shape != Shape::ByAddress);
    let mut rng = Rng(seed);
    let mut work = Vec::new();
    for direction in Direction::ALL {
        let mut packets = Vec::with_capacity(per_direction);
        for _ in 0..per_direction {
            match edges.packet(&mut rng, direction) {
                Some(p) => packets.push(p),
                None => break,
            }
        }
        let expected: Vec<Verdict> = packets
            .iter()
            .map(|p| engine.evaluate(endpoint, direction, p).verdict)
            .collect();
        let why: Vec<String> = packets
            .iter()
            .map(|p| match engine.evaluate(endpoint, direction, p).reason {
                sgeval::Reason::Rule(r) => match cloud.rule(r) {
                    Some(rule) => format!("rule {}", rule.id),
                    None => format!("{r:?}"),
                },
                other => format!("{other:?}"),
            })
            .collect();
        work.push((direction, packets, expected, why));
    }
    let locals: Vec<IpAddr> = edges.locals.iter().flatten().copied().collect();
    // Both directions in one batch: their packets meet different hooks.
    let mut all = Vec::new();
    for (direction, packets, expected, why) in work {
        for ((p, e), w) in packets.into_iter().zip(expected).zip(why) {
            all.push((direction, p, e, w));
        }
    }
    in_netns(move || {
        let mut netns = Netns::setup_named(&tun_name, &locals)?;
        let raw = Raw::open()?;
        let mut tally = Tally::default();
        // IPv4 ids are 16 bits: batches of at most 65,535 packets.
        for (b, chunk) in all.chunks(65_535).enumerate() {
            load_witness(if b == 0 { &text } else { "" })?;
            let (mut n4, mut n6) = (0u64, 0u64);
            let mut ids = Vec::with_capacity(chunk.len());
            let mut wires = Vec::with_capacity(chunk.len());
            for (_, p, _, _) in chunk {
                let id = if p.src.is_ipv4() {
                    n4 += 1;
                    n4 as u32
                } else {
                    n6 += 1;
                    n6 as u32
                };
                ids.push(id);
                wires.push(wire(p, id));
            }
            // A busy machine can overrun the bounded backlog that tun writes feed
            // (`netdev_max_backlog`), losing packets before any hook sees them: such a
            // batch is injected again, paced. A loss is never taken for a verdict.
            let mut attempt = 0;
            let acc = loop {
                if attempt > 0 {
                    load_witness("")?;
                }
                for (k, (bytes, (direction, p, _, _))) in wires.iter().zip(chunk).enumerate() {
                    match direction {
                        Direction::Ingress => netns.write(bytes)?,
                        Direction::Egress => {
                            raw.send(bytes, p.dst)?;
                        }
                    }
                    if attempt > 0 && k % 64 == 63 {
                        std::thread::sleep(Duration::from_micros(100 << attempt));
                    }
                }
                match accepted(n4, n6) {
                    Ok(acc) => break acc,
                    Err(e) if e.contains("lost some") && attempt < 3 => {
                        eprintln!("nft-oracle: {e}; injecting the batch again, paced");
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            };
            for (i, (direction, p, expected, why)) in chunk.iter().enumerate() {
                let kernel = if acc[fam(&p.src)].contains(&ids[i]) {
                    Verdict::Allow
                } else {
                    Verdict::Deny
                };
                tally.packets += 1;
                if kernel == Verdict::Allow {
                    tally.allowed += 1;
                }
                if kernel != *expected {
                    let mut m = format!("{direction} {p}: kernel {kernel:?}, engine {expected:?} ({why})");
                    if tally.mismatches.len() < 3 {
                        m.push_str("\n  kernel trace:\n");
                        m.push_str(&trace(&wires[i], p, *direction, &mut netns, &raw));
                    }
                    tally.mismatches.push(m);
                }
            }
        }
        Ok(tally)
    })
}

fn packets_per_provider() -> usize {
    std::env::var("SGEVAL_NFT_ORACLE_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

// ---------------------------------------------------------------------------------------
// Generated scenarios, all four providers

#[cfg(feature = "proptest")]
fn generated(provider: sgeval::Provider, seed: u8) {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    if !available() {
        return;
    }
    let budget = packets_per_provider();
    let per_direction = 2_500.min(budget / 2).max(1);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    );
    let strategy = sgeval::strategy::scenario(provider);
    let started = Instant::now();
    let (mut total, mut allowed, mut runs, mut scenarios) = (0usize, 0usize, 0usize, 0usize);
    let mut mismatches = Vec::new();
    while total < budget {
        let scenario = strategy.new_tree(&mut runner).expect("scenario").current();
        let cloud = scenario.build().expect("generated scenarios build");
        scenarios += 1;
        for i in 0..cloud.endpoints().len() {
            if total >= budget {
                break;
            }
            let shape = Shape::nth(runs, &cloud, cloud.endpoint_keys().nth(i).unwrap());
            let seed = (u64::from(seed) << 32) ^ runs as u64;
            match oracle_run(
                &cloud,
                cloud.endpoint_keys().nth(i).unwrap(),
                shape,
                per_direction,
                seed,
            ) {
                Ok(t) => {
                    total += t.packets;
                    allowed += t.allowed;
                    mismatches.extend(
                        t.mismatches
                            .into_iter()
                            .map(|m| format!("scenario {scenarios} endpoint {i}: {m}")),
                    );
                }
                Err(e) => {
                    panic!("{provider:?} scenario {scenarios} endpoint {i}: {e}\nscenario: {scenario:?}")
                }
            }
            runs += 1;
        }
        if !mismatches.is_empty() {
            let n = mismatches.len();
            mismatches.truncate(10);
            panic!(
                "{provider:?}: {n} mismatches between the kernel and the engine\n{}\nscenario: {scenario:?}",
                mismatches.join("\n")
            );
        }
    }
    println!(
        "nft-oracle {provider:?}: {total} packets ({allowed} allowed), {scenarios} scenarios, {runs} namespaces, \
         0 mismatches, {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

#[cfg(feature = "proptest")]
#[test]
fn kernel_agrees_with_engine_on_generated_ecs_policies() {
    generated(sgeval::Provider::Ecs, 1);
}

#[cfg(feature = "proptest")]
#[test]
fn kernel_agrees_with_engine_on_generated_ens_policies() {
    generated(sgeval::Provider::Ens, 2);
}

#[cfg(feature = "proptest")]
#[test]
fn kernel_agrees_with_engine_on_generated_huawei_policies() {
    generated(sgeval::Provider::Huawei, 3);
}

#[cfg(feature = "proptest")]
#[test]
fn kernel_agrees_with_engine_on_generated_gcore_policies() {
    generated(sgeval::Provider::Gcore, 4);
}

// ---------------------------------------------------------------------------------------
// Every corpus scenario and bundled example

/// The clouds of every corpus case and bundled example whose calls could be replayed and
/// whose endpoints attached (a failed call changes nothing, so the cloud is still a valid
/// state), named.
fn corpus_and_examples() -> Vec<(String, Cloud)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut add = |name: String, scenario: Result<sgeval::Scenario, sgeval::ScenarioError>| {
        let Ok(scenario) = scenario else { return };
        let Ok(replay) = scenario.replay() else { return };
        if replay.endpoint_error.is_none() {
            out.push((name, replay.cloud));
        }
    };
    let mut files: Vec<_> = std::fs::read_dir(root.join("tests/corpus"))
        .expect("tests/corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&f).expect("corpus file")).expect("corpus json");
        for case in v["cases"].as_array().into_iter().flatten() {
            if let Some(sc) = case.get("scenario") {
                let name = case["name"].as_str().unwrap_or("?").to_owned();
                add(name, sgeval::Scenario::from_value(sc));
            }
        }
    }
    let mut examples: Vec<_> = std::fs::read_dir(root.join("examples"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    examples.sort();
    for f in examples {
        let text = std::fs::read_to_string(&f).expect("example");
        add(f.display().to_string(), sgeval::Scenario::from_json(&text));
    }
    out
}

#[test]
fn every_corpus_scenario_and_example_loads_with_nft_check() {
    if !available() {
        return;
    }
    let clouds = corpus_and_examples();
    assert!(clouds.len() > 100, "only {} corpus clouds", clouds.len());
    let mut texts = Vec::new();
    let mut refused = Vec::new();
    for (name, cloud) in &clouds {
        let mut exports: Vec<(String, Export)> = (0..cloud.endpoints().len())
            .map(|i| {
                (
                    format!("{name} endpoint {i}"),
                    Export::endpoint(cloud.endpoint_keys().nth(i).unwrap()),
                )
            })
            .collect();
        exports.push((format!("{name} --all"), Export::all(Key::Address)));
        exports.push((
            format!("{name} --all --key interface"),
            Export::all(Key::Interface),
        ));
        for direction in Direction::ALL {
            exports.push((
                format!("{name} --all --direction {direction}"),
                Export {
                    scope: Scope::All(Key::Address),
                    directions: vec![direction],
                },
            ));
        }
        for (what, export) in exports {
            match nftables::table(cloud, &export) {
                Ok(t) => {
                    let sets =
                        nftables::set_updates(cloud, &export).expect("set updates when the table exports");
                    texts.push((what, t, sets));
                }
                // Endpoint names that are no interface names are refused, as documented.
                Err(
                    e @ nftables::ExportError::BadName {
                        what: "interface name",
                        ..
                    },
                ) => refused.push(format!("{what}: {e}")),
                Err(e) => panic!("{what}: export refused: {e}"),
            }
        }
    }
    let n = texts.len();
    in_netns(move || {
        // Each export replaces the table, so many go in one transaction; a failing chunk
        // is checked text by text to name the culprit.
        for chunk in texts.chunks(64) {
            let mut all = String::new();
            for (_, text, sets) in chunk {
                all.push_str(text);
                all.push_str(sets);
            }
            let check = run("nft", &["-c", "-f", "-"], Some(&all));
            let load = check.and_then(|_| run("nft", &["-f", "-"], Some(&all)));
            if load.is_ok() {
                continue;
            }
            for (what, text, sets) in chunk {
                run("nft", &["-c", "-f", "-"], Some(text)).map_err(|e| format!("{what}: {e}"))?;
                // Loaded for real, the set updates apply to it.
                run("nft", &["-f", "-"], Some(text)).map_err(|e| format!("{what}: {e}"))?;
                run("nft", &["-f", "-"], Some(sets)).map_err(|e| format!("{what} --sets-only: {e}"))?;
            }
            return Err("a chunk failed to load but each of its exports loads alone".into());
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "nft-oracle: {n} exports of {} corpus scenarios and examples load (nft -c -f, nft -f, set updates); \
         {} interface-keyed exports refused for endpoint names that are no interface names",
        clouds.len(),
        refused.len()
    );
}

#[test]
fn kernel_agrees_with_engine_on_corpus_and_examples() {
    if !available() {
        return;
    }
    let started = Instant::now();
    let (mut total, mut runs) = (0usize, 0usize);
    let mut mismatches = Vec::new();
    for (name, cloud) in corpus_and_examples() {
        for i in 0..cloud.endpoints().len() {
            let t = oracle_run(
                &cloud,
                cloud.endpoint_keys().nth(i).unwrap(),
                Shape::nth(runs, &cloud, cloud.endpoint_keys().nth(i).unwrap()),
                300,
                runs as u64,
            )
            .unwrap_or_else(|e| panic!("{name} endpoint {i}: {e}"));
            total += t.packets;
            runs += 1;
            mismatches.extend(
                t.mismatches
                    .into_iter()
                    .map(|m| format!("{name} endpoint {i}: {m}")),
            );
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches between the kernel and the engine:\n{}",
        mismatches.len(),
        mismatches.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    println!(
        "nft-oracle corpus: {total} packets, {runs} endpoints, 0 mismatches, {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// Stateful cases: each in its own namespace

const EP4: &str = "10.0.0.10";
const EP6: &str = "2001:db8::10";
const ENDPOINTS: &str =
    r#""endpoints": [{"name": "vm", "ips": ["10.0.0.10", "2001:db8::10"], "groups": ["$g"]}]"#;

/// Scenarios whose ingress denies what comes from 203.0.113.99 and whose egress allows.
fn ingress_denied() -> Vec<(&'static str, String)> {
    vec![
        (
            "ecs",
            format!(
                r#"{{"provider": "ecs", "calls": [{{"api": "CreateSecurityGroup", "ref": "g", "params":
                {{"RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": "gate"}}}}], {ENDPOINTS}}}"#
            ),
        ),
        (
            "ens",
            format!(
                r#"{{"provider": "ens", "calls": [{{"api": "CreateSecurityGroup", "ref": "g", "params":
                {{"SecurityGroupName": "gate"}}}}], {ENDPOINTS}}}"#
            ),
        ),
        (
            "huawei",
            format!(
                r#"{{"provider": "huawei", "calls": [{{"api": "CreateSecurityGroup", "ref": "g", "body":
                {{"security_group": {{"name": "gate"}}}}}}], {ENDPOINTS}}}"#
            ),
        ),
        (
            "gcore",
            format!(
                r#"{{"provider": "gcore", "calls": [{{"api": "CreateSecurityGroup", "ref": "g", "body":
                {{"name": "gate"}}}}], {ENDPOINTS}}}"#
            ),
        ),
    ]
}

/// Scenarios whose ingress allows UDP to port 5000 and whose egress denies UDP.
fn egress_denied() -> Vec<(&'static str, String)> {
    vec![
        (
            "ecs",
            format!(
                r#"{{"provider": "ecs", "calls": [
                {{"api": "CreateSecurityGroup", "ref": "g", "params": {{"RegionId": "cn-hangzhou", "VpcId": "vpc-1",
                  "SecurityGroupName": "gate", "SecurityGroupType": "enterprise"}}}},
                {{"api": "AuthorizeSecurityGroup", "params": {{"RegionId": "cn-hangzhou", "SecurityGroupId": "$g",
                  "Permissions.1.IpProtocol": "UDP", "Permissions.1.PortRange": "5000/5000",
                  "Permissions.1.SourceCidrIp": "0.0.0.0/0", "Permissions.1.Policy": "accept",
                  "Permissions.1.Priority": "1"}}}}], {ENDPOINTS}}}"#
            ),
        ),
        (
            "ens",
            format!(
                r#"{{"provider": "ens", "options": {{"ens_egress_default": "deny"}}, "calls": [
                {{"api": "CreateSecurityGroup", "ref": "g", "params": {{"SecurityGroupName": "gate", "Permissions": [
                  {{"Direction": "ingress", "IpProtocol": "UDP", "PortRange": "5000/5000", "SourceCidrIp": "0.0.0.0/0",
                    "Policy": "Accept", "Priority": 1}}]}}}}], {ENDPOINTS}}}"#
            ),
        ),
        (
            "huawei",
            format!(
                r#"{{"provider": "huawei", "calls": [
                {{"api": "CreateSecurityGroup", "ref": "g", "body": {{"security_group": {{"name": "gate"}}}}}},
                {{"api": "CreateSecurityGroupRule", "body": {{"security_group_rule": {{"security_group_id": "$g",
                  "direction": "egress", "ethertype": "IPv4", "action": "deny", "priority": 1}}}}}},
                {{"api": "CreateSecurityGroupRule", "body": {{"security_group_rule": {{"security_group_id": "$g",
                  "direction": "ingress", "ethertype": "IPv4", "protocol": "udp", "multiport": "5000",
                  "remote_ip_prefix": "0.0.0.0/0", "action": "allow", "priority": 1}}}}}}], {ENDPOINTS}}}"#
            ),
        ),
        (
            "gcore",
            format!(
                r#"{{"provider": "gcore", "calls": [{{"api": "CreateSecurityGroup", "ref": "g", "body": {{"name": "gate",
                "rules": [
                  {{"direction": "ingress", "ethertype": "IPv4", "protocol": "udp", "port_range_min": 5000,
                    "port_range_max": 5000, "remote_ip_prefix": "0.0.0.0/0"}},
                  {{"direction": "egress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 443,
                    "port_range_max": 443, "remote_ip_prefix": "192.0.2.1/32"}}]}}}}], {ENDPOINTS}}}"#
            ),
        ),
    ]
}

fn cloud_of(json: &str) -> Cloud {
    sgeval::Scenario::from_json(json)
        .expect("scenario parses")
        .build()
        .expect("scenario builds")
}

/// Checks one stateful observation: the kernel's verdict equals the engine's for the
/// packet in `state`, and the engine's verdict for the same packet as a new one is
/// `as_new` (so the case depends on the state it claims to).
fn expect(
    engine: &Engine,
    direction: Direction,
    p: Packet,
    state: ConnState,
    as_new: Verdict,
    kernel: Verdict,
    what: &str,
) -> Result<(), String> {
    // The scenarios of these cases have their one tested endpoint first.
    let ep: EndpointKey = serde_json::from_str("0").expect("endpoint key 0");
    let with = engine.evaluate(ep, direction, &p.with_state(state)).verdict;
    let new = engine
        .evaluate(ep, direction, &p.with_state(ConnState::New))
        .verdict;
    if new != as_new {
        return Err(format!(
            "{what}: engine gives {new:?} for {p} as a new packet, the case needs {as_new:?}"
        ));
    }
    if kernel != with {
        return Err(format!(
            "{what}: kernel {kernel:?}, engine {with:?} for {p} ({state:?})"
        ));
    }
    Ok(())
}

/// Reads packets the stack sent out through the tun device until `want` accepts one.
fn read_tun(netns: &mut Netns, want: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, String> {
    let fd = netns.tun.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        libc::fcntl(
            fd,
            libc::F_SETFL,
            libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
        )
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        match netns.tun.read(&mut buf) {
            Ok(n) if want(&buf[..n]) => return Ok(buf[..n].to_vec()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => return Err(format!("tun read: {e}")),
        }
    }
    Err("the expected packet never left through the tun device".into())
}

/// Injects `bytes` (id `id` of its family) under the ingress witness and returns the
/// kernel's verdict.
fn verdict_of(netns: &mut Netns, bytes: &[u8], v6: bool, id: u32) -> Result<Verdict, String> {
    load_witness("")?;
    netns.write(bytes)?;
    let (n4, n6) = if v6 { (0, 1) } else { (1, 0) };
    let acc = accepted(n4, n6)?;
    Ok(if acc[usize::from(v6)].contains(&id) {
        Verdict::Allow
    } else {
        Verdict::Deny
    })
}

/// Replies to the endpoint's own UDP (both families), TCP and (as ICMP errors) UDP flows
/// pass an ingress that denies them as new packets; look-alikes without a flow do not.
fn ingress_replies(json: String) -> Result<(), String> {
    let cloud = cloud_of(&json);
    let engine = Engine::build(&cloud).map_err(|e| e.to_string())?;
    let text = nftables::table(&cloud, &Export::endpoint(cloud.endpoint_keys().next().unwrap()))
        .map_err(|e| e.to_string())?;
    in_netns(move || {
        let ep4: IpAddr = EP4.parse().expect("address");
        let ep6: IpAddr = EP6.parse().expect("address");
        let far4: IpAddr = "203.0.113.99".parse().expect("address");
        let far6: IpAddr = "2001:db8:ffff::99".parse().expect("address");
        let mut netns = Netns::setup(&[ep4, ep6])?;
        run("nft", &["-f", "-"], Some(&text))?;
        let ing = Direction::Ingress;
        let (est, new) = (ConnState::Established, ConnState::New);
        // UDP, both families: the endpoint sends, the reply comes back.
        for (ep, far) in [(ep4, far4), (ep6, far6)] {
            let sock = std::net::UdpSocket::bind((ep, 5555)).map_err(|e| format!("bind: {e}"))?;
            sock.send_to(b"q", (far, 4000))
                .map_err(|e| format!("send: {e}"))?;
            let reply = Packet::udp(far, ep, 5555).with_src_port(4000);
            let k = verdict_of(&mut netns, &wire(&reply, 7), ep.is_ipv6(), 7)?;
            expect(&engine, ing, reply, est, Verdict::Deny, k, "UDP reply")?;
            let stray = Packet::udp(far, ep, 5555).with_src_port(4001);
            let k = verdict_of(&mut netns, &wire(&stray, 8), ep.is_ipv6(), 8)?;
            expect(
                &engine,
                ing,
                stray,
                new,
                Verdict::Deny,
                k,
                "UDP from a port with no flow",
            )?;
        }
        // TCP: the endpoint's SYN leaves through the tun; the SYN-ACK that acknowledges it
        // is a reply, one from another port is not.
        let _ = std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::new(far4, 80),
            Duration::from_millis(20),
        );
        let syn = read_tun(&mut netns, |b| {
            b.len() >= 40 && b[0] >> 4 == 4 && b[9] == 6 && b[22..24] == [0, 80]
        })?;
        let sport = u16::from_be_bytes([syn[20], syn[21]]);
        let isn = u32::from_be_bytes([syn[24], syn[25], syn[26], syn[27]]);
        for (from, id, state, what) in [
            (80u16, 9u32, est, "TCP SYN-ACK reply"),
            (81, 10, new, "TCP SYN-ACK with no flow"),
        ] {
            let p = Packet::tcp(far4, ep4, sport).with_src_port(from);
            let mut body = l4_body(&p, id);
            body[8..12].copy_from_slice(&isn.wrapping_add(1).to_be_bytes());
            body[13] = 0x12; // SYN, ACK
            let k = verdict_of(&mut netns, &finish(&p, id, body), false, id)?;
            expect(&engine, ing, p, state, Verdict::Deny, k, what)?;
        }
        // ICMP port unreachable quoting the endpoint's UDP flow is related to it; quoting no
        // flow it is a new packet the rules deny.
        let sock = std::net::UdpSocket::bind((ep4, 5556)).map_err(|e| format!("bind: {e}"))?;
        sock.send_to(b"q", (far4, 4000))
            .map_err(|e| format!("send: {e}"))?;
        for (port, id, state, what) in [
            (4000u16, 11u32, est, "ICMP error for a flow"),
            (4999, 12, new, "ICMP error for no flow"),
        ] {
            let inner = wire(&Packet::udp(ep4, far4, port).with_src_port(5556), 1);
            let p = Packet::new(far4, ep4, 1).with_icmp(3, 3);
            let mut body = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
            body.extend_from_slice(&inner[..28]);
            let k = verdict_of(&mut netns, &finish(&p, id, body), false, id)?;
            expect(&engine, ing, p, state, Verdict::Deny, k, what)?;
        }
        Ok(())
    })
}

/// Replies from the endpoint to a UDP flow its ingress admitted pass an egress that denies
/// them as new packets; a new packet to another port is dropped (EPERM).
fn egress_replies(json: String) -> Result<(), String> {
    let cloud = cloud_of(&json);
    let engine = Engine::build(&cloud).map_err(|e| e.to_string())?;
    let text = nftables::table(&cloud, &Export::endpoint(cloud.endpoint_keys().next().unwrap()))
        .map_err(|e| e.to_string())?;
    in_netns(move || {
        let ep4: IpAddr = EP4.parse().expect("address");
        let far: IpAddr = "198.51.100.7".parse().expect("address");
        let mut netns = Netns::setup(&[ep4, EP6.parse().expect("address")])?;
        run("nft", &["-f", "-"], Some(&text))?;
        let sent = |sock: &std::net::UdpSocket, port: u16| match sock.send_to(b"r", (far, port)) {
            Ok(_) => Ok(Verdict::Allow),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(Verdict::Deny),
            Err(e) => Err(format!("send: {e}")),
        };
        let sock = std::net::UdpSocket::bind((ep4, 5000)).map_err(|e| format!("bind: {e}"))?;
        sock.set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| e.to_string())?;
        let out = Packet::udp(ep4, far, 6000).with_src_port(5000);
        // Before any inbound packet, the egress denies.
        let k = sent(&sock, 6000)?;
        expect(
            &engine,
            Direction::Egress,
            out,
            ConnState::New,
            Verdict::Deny,
            k,
            "UDP out before a flow",
        )?;
        let inbound = Packet::udp(far, ep4, 5000).with_src_port(6000);
        netns.write(&wire(&inbound, 1))?;
        let mut buf = [0u8; 64];
        let k = match sock.recv_from(&mut buf) {
            Ok(_) => Verdict::Allow,
            Err(_) => Verdict::Deny,
        };
        expect(
            &engine,
            Direction::Ingress,
            inbound,
            ConnState::New,
            Verdict::Allow,
            k,
            "UDP in",
        )?;
        let k = sent(&sock, 6000)?;
        expect(
            &engine,
            Direction::Egress,
            out,
            ConnState::Established,
            Verdict::Deny,
            k,
            "UDP reply out",
        )?;
        let other = Packet::udp(ep4, far, 6001).with_src_port(5000);
        let k = sent(&sock, 6001)?;
        expect(
            &engine,
            Direction::Egress,
            other,
            ConnState::New,
            Verdict::Deny,
            k,
            "UDP out to another port",
        )?;
        Ok(())
    })
}

#[test]
fn kernel_admits_replies_to_the_endpoints_own_flows_on_ingress() {
    if !available() {
        return;
    }
    for (provider, json) in ingress_denied() {
        ingress_replies(json).unwrap_or_else(|e| panic!("{provider}: {e}"));
    }
}

#[test]
fn kernel_admits_replies_to_admitted_flows_on_egress() {
    if !available() {
        return;
    }
    for (provider, json) in egress_denied() {
        egress_replies(json).unwrap_or_else(|e| panic!("{provider}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------
// Set updates and the command line

/// Huawei: `app` admits TCP 22 from the members of `ops`; `vm` is in `app`, `ops-1` in
/// `ops`, and `extra` joins `ops` when given.
fn ops_scenario(extra: bool) -> Cloud {
    let more = if extra {
        r#", {"name": "ops-2", "ips": ["10.0.9.7", "2001:db8:9::7"], "groups": ["$ops"]}"#
    } else {
        ""
    };
    cloud_of(&format!(
        r#"{{"provider": "huawei", "calls": [
        {{"api": "CreateSecurityGroup", "ref": "app", "body": {{"security_group": {{"name": "app"}}}}}},
        {{"api": "CreateSecurityGroup", "ref": "ops", "body": {{"security_group": {{"name": "ops"}}}}}},
        {{"api": "CreateSecurityGroupRule", "body": {{"security_group_rule": {{"security_group_id": "$app",
          "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "multiport": "22",
          "remote_group_id": "$ops", "action": "allow", "priority": 1}}}}}}],
        "endpoints": [{{"name": "vm", "ips": ["10.0.0.10"], "groups": ["$app"]}},
                      {{"name": "ops-1", "ips": ["10.0.9.5"], "groups": ["$ops"]}}{more}]}}"#
    ))
}

#[test]
fn set_updates_change_only_the_sets_and_equal_a_fresh_export() {
    let before = ops_scenario(false);
    let after = ops_scenario(true);
    let export = Export::endpoint(before.endpoint_keys().next().unwrap());
    let old = nftables::table(&before, &export).expect("export");
    let new = nftables::table(&after, &export).expect("export");
    let updates = nftables::set_updates(&after, &export).expect("set updates");
    // A membership change leaves every chain as it was.
    let chains = |t: &str| {
        t.lines()
            .filter(|l| !l.contains("elements"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(chains(&old), chains(&new));
    assert_ne!(old, new);
    assert!(updates.contains("10.0.9.7"), "{updates}");
    if !available() {
        return;
    }
    let listed = in_netns(move || {
        run("nft", &["-f", "-"], Some(&old))?;
        run("nft", &["-f", "-"], Some(&updates))?;
        let updated = run("nft", &["list", "table", "inet", "sgeval"], None)?;
        run("nft", &["-f", "-"], Some(&new))?;
        let fresh = run("nft", &["list", "table", "inet", "sgeval"], None)?;
        Ok((updated, fresh))
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.0, listed.1);
    assert!(listed.0.contains("10.0.9.7"), "{}", listed.0);
}

#[test]
fn cli_export_prints_the_library_text_and_refuses_unknown_endpoints() {
    let root = env!("CARGO_MANIFEST_DIR");
    let example = format!("{root}/examples/huawei-app.json");
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sgeval"))
            .args(["export", "nftables", &example])
            .args(args)
            .output()
            .expect("sgeval runs")
    };
    let cloud = sgeval::Scenario::from_json(&std::fs::read_to_string(&example).expect("example"))
        .expect("parses")
        .build()
        .expect("builds");
    let key = cloud.endpoint_by_name("app-1").expect("endpoint");
    let out = cli(&["--endpoint", "app-1"]);
    assert!(out.status.success());
    let text = nftables::table(&cloud, &Export::endpoint(key)).expect("export");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), text.trim_end());
    let by_addr = cli(&["--endpoint", "10.1.0.7", "--direction", "ingress"]);
    let ingress = nftables::table(
        &cloud,
        &Export {
            scope: Scope::Endpoint(key),
            directions: vec![Direction::Ingress],
        },
    )
    .expect("export");
    assert_eq!(
        String::from_utf8_lossy(&by_addr.stdout).trim_end(),
        ingress.trim_end()
    );
    assert!(!ingress.contains("hook output"));
    let sets = cli(&["--all", "--sets-only"]);
    assert!(sets.status.success());
    assert_eq!(
        String::from_utf8_lossy(&sets.stdout).trim_end(),
        nftables::set_updates(&cloud, &Export::all(Key::Address))
            .expect("sets")
            .trim_end()
    );
    let unknown = cli(&["--endpoint", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("`nope`"));
}

#[test]
fn rules_the_kernel_cannot_match_exactly_are_refused_by_library_and_cli() {
    // An IPv6 rule on protocol 43 (routing header): the kernel's `meta l4proto` walks over
    // extension headers and never reports 43.
    let json = r#"{"provider": "huawei", "calls": [
      {"api": "CreateSecurityGroup", "ref": "g", "body": {"security_group": {"name": "g"}}},
      {"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {"security_group_id": "$g",
        "direction": "ingress", "ethertype": "IPv6", "protocol": "43", "remote_ip_prefix": "2001:db8::/32",
        "action": "allow", "priority": 1}}}],
      "endpoints": [{"name": "vm", "ips": ["2001:db8::10"], "groups": ["$g"]}]}"#;
    let cloud = cloud_of(json);
    let id = cloud
        .groups()
        .flat_map(|g| g.rules.iter())
        .find(|r| r.protocol == Some(43))
        .expect("the rule")
        .id
        .clone();
    for export in [
        Export::endpoint(cloud.endpoint_keys().next().unwrap()),
        Export::all(Key::Address),
    ] {
        match nftables::table(&cloud, &export) {
            Err(nftables::ExportError::Inexpressible { rule, .. }) => assert_eq!(rule, id),
            other => panic!("{export:?}: {other:?}"),
        }
    }
    let path = std::env::temp_dir().join(format!("sgeval-nft-refused-{}.json", std::process::id()));
    std::fs::write(&path, json).expect("temp file");
    let out = Command::new(env!("CARGO_BIN_EXE_sgeval"))
        .args(["export", "nftables"])
        .arg(&path)
        .args(["--endpoint", "vm"])
        .output()
        .expect("sgeval runs");
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&id) && err.contains("cannot express"), "{err}");
}
