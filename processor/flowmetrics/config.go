package flowmetrics

import (
	"errors"
	"fmt"
)

// Limits on the configured bounds, so that a typo cannot ask for millions
// of series.
const (
	maxMaxVPCs  = 10000
	maxMaxPorts = 65536
)

// Config configures the flow_metrics stage.
type Config struct {
	// MaxVPCs is how many distinct VPC ids get their own vpc_id label
	// value; the VPCs seen after the first MaxVPCs are counted as "other".
	// 0 counts every VPC as "other".
	MaxVPCs int `yaml:"max_vpcs"`
	// MaxRejectedDstPorts is how many distinct destination ports of
	// rejected flows, besides AlwaysTrackDstPorts, get their own dstport
	// label value; later ones are counted as "other".
	MaxRejectedDstPorts int `yaml:"max_rejected_dstports"`
	// AlwaysTrackDstPorts are destination ports that always have their
	// own dstport label value for rejected flows, whatever the order in
	// which ports are seen. They do not count towards MaxRejectedDstPorts.
	AlwaysTrackDstPorts []int `yaml:"always_track_dstports"`
}

// defaultTrackedPorts are the ports that scans and intrusion attempts
// target most: remote access (SSH 22, Telnet 23, RDP 3389, VNC 5900, WinRM
// 5985/5986), file sharing (FTP 21, SMB 445, NetBIOS 137–139, RPC 135),
// mail (SMTP 25), DNS 53, web (80, 443, 8080, 8443), databases (MSSQL
// 1433, Oracle 1521, MySQL 3306, PostgreSQL 5432, Redis 6379, MongoDB
// 27017, Elasticsearch 9200, Memcached 11211) and the Docker and
// Kubernetes APIs (2375, 2376, 6443, 10250).
var defaultTrackedPorts = []int{
	21, 22, 23, 25, 53, 80, 135, 137, 138, 139, 443, 445, 1433, 1521, 2375, 2376,
	3306, 3389, 5432, 5900, 5985, 5986, 6379, 6443, 8080, 8443, 9200, 10250, 11211, 27017,
}

// NewDefaultConfig returns the defaults: 100 VPCs, and 100 rejected
// destination ports besides the 30 always tracked. Worst case that is
// 101 VPC values × 3 actions × 4 directions × 6 protocols × 4 statuses
// ≈ 29k series for vpcflow_flows_total, but real traffic fills a small
// fraction: a VPC typically shows 2 actions × 2–3 directions × 3
// protocols with status OK, some 20 series per VPC, ≈ 2k in all.
func NewDefaultConfig() *Config {
	return &Config{
		MaxVPCs:             100,
		MaxRejectedDstPorts: 100,
		AlwaysTrackDstPorts: append([]int(nil), defaultTrackedPorts...),
	}
}

// Validate checks the bounds.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxVPCs < 0 || c.MaxVPCs > maxMaxVPCs {
		errs = append(errs, fmt.Errorf("max_vpcs must be between 0 and %d, got %d", maxMaxVPCs, c.MaxVPCs))
	}
	if c.MaxRejectedDstPorts < 0 || c.MaxRejectedDstPorts > maxMaxPorts {
		errs = append(errs, fmt.Errorf("max_rejected_dstports must be between 0 and %d, got %d", maxMaxPorts, c.MaxRejectedDstPorts))
	}
	for i, p := range c.AlwaysTrackDstPorts {
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("always_track_dstports[%d]: port must be between 0 and 65535, got %d", i, p))
		}
	}
	return errors.Join(errs...)
}
