package s3sqssource

import (
	"strings"
)

// keyOrigin extracts the account and region that AWS writes into the key of
// a flow-log object. Both layouts are understood, after any prefix:
//
//	AWSLogs/{account}/vpcflowlogs/{region}/{yyyy}/{mm}/{dd}/[{hh}/]file
//	AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/year=…/file
//
// When the path does not name them, the file name
// ({account}_vpcflowlogs_{region}_{flow-log-id}_{time}_{hash}.log.gz) is
// tried. Unknown parts are returned empty.
func keyOrigin(key string) (account, region string) {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		if s != "AWSLogs" || i+3 >= len(segs) {
			continue
		}
		acct := strings.TrimPrefix(segs[i+1], "aws-account-id=")
		svc := strings.TrimPrefix(segs[i+2], "aws-service=")
		reg := strings.TrimPrefix(segs[i+3], "aws-region=")
		if svc == "vpcflowlogs" && isAccount(acct) && isRegion(reg) {
			return acct, reg
		}
	}
	// {account}_vpcflowlogs_{region}_…
	file := segs[len(segs)-1]
	parts := strings.SplitN(file, "_", 4)
	if len(parts) == 4 && parts[1] == "vpcflowlogs" && isAccount(parts[0]) && isRegion(parts[2]) {
		return parts[0], parts[2]
	}
	return "", ""
}

func isAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isRegion accepts names such as us-east-1, eu-central-2, us-gov-west-1,
// cn-north-1, ap-southeast-4.
func isRegion(s string) bool {
	if len(s) < 4 || len(s) > 32 || strings.Count(s, "-") < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	last := s[len(s)-1]
	return last >= '0' && last <= '9'
}
