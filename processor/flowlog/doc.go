// Package flowlog holds the record model shared by every part of vpcflow:
// the typed flow-log Record, its fields, the Batch that moves through the
// pipeline and the acknowledgement contract (AckFunc).
//
// It is a leaf package: sources, stages and sinks all import it.
package flowlog
