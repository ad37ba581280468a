// Package testnet starts a local OutLayer network: a devchain, the deployed
// contracts and a three-node cluster on loopback, with a demo request.
package testnet
