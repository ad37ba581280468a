// Package discovery finds the members of an OutLayer cluster on the local
// network by the cluster's name, with multicast DNS (github.com/hashicorp/mdns).
//
// A member answers queries for the service "_outlayer._tcp" with its peer id
// (the instance name), the cluster's name and its libp2p listen addresses
// (TXT records). Nothing else is announced: no membership, no attestation,
// no secret. What a lookup returns is a hint, never a credential: whoever
// dials an announced address still proves its identity in the Noise
// handshake, and a node that is not a member still has to pass the join
// handshake and its attestation.
//
// Mode and Decide say when a node uses it: on for development clusters and
// for nodes that listen only on private or loopback addresses, off (unless
// asked for) for a production node on a public interface, where a LAN
// announcement reaches nobody it should.
package discovery
