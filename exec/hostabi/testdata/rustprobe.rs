// The Rust SDK file (exec/sdk/rust/outlayer.rs) exercised end to end: the
// same answers as the Go probe's script, printed one per line.
#[path = "../../sdk/rust/outlayer.rs"]
mod outlayer;

use outlayer::Scope;

fn main() {
    println!("{:?}", outlayer::storage_set_value(Scope::User, b"k", b"hello"));
    let v = outlayer::storage_get_value(Scope::User, b"k").unwrap().unwrap();
    println!("get {}", String::from_utf8_lossy(&v));
    println!("missing {:?}", outlayer::storage_get_value(Scope::User, b"missing"));
    println!("has {:?}", outlayer::storage_has_key(Scope::User, b"k"));
    println!("incr {:?}", outlayer::storage_add(Scope::Worker, b"n", 2));
    let keys = outlayer::storage_list_keys(Scope::Public, b"p", b"", 10).unwrap();
    println!("list {}", keys.len());
    let r = outlayer::fetch("POST", "https://api.example/x", &[("X-Probe", "1")], b"body").unwrap();
    println!("fetch {} {}", r.status, String::from_utf8_lossy(&r.body));
    let big = outlayer::fetch("GET", "https://big.example/", &[], b"").unwrap();
    println!("big {}", big.body.len());
    match outlayer::fetch("GET", "http://10.0.0.1/", &[], b"") {
        Err(e) => println!("denied {} {}", e.code, e.message),
        Ok(_) => println!("fetched a private address"),
    }
    let d = outlayer::vrf("coin").unwrap();
    println!("vrf {} {} {}", d.output_hex, d.signature_hex, d.alpha);
    println!("pubkey {:?}", outlayer::vrf_public_key().map_err(|e| e.code));
}
