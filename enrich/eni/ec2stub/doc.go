// Package ec2stub is a small stand-in for the parts of AWS that the
// eni_enrich stage talks to: EC2's DescribeNetworkInterfaces and STS's
// AssumeRole, both over their real wire protocols (form POST, XML answers)
// so that the real aws-sdk-go-v2 clients decode them. Tests use it through
// net/http/httptest; `vpcflow dev` serves it as its EC2 endpoint.
//
// # EC2
//
// Server answers Action=DescribeNetworkInterfaces from a table of
// *flowlog.ENI: the filters network-interface-id, private-ip-address
// (addresses.private-ip-address), vpc-id, subnet-id and owner-id,
// NetworkInterfaceId.N (an unknown id fails the call, as on EC2),
// MaxResults (5 to 1000) and NextToken paging. The first IPv4 address of
// an ENI is its primary private address, the other IPv4 addresses are
// secondary, the IPv6 ones go to ipv6AddressesSet; every tag is returned.
//
// Who asks matters as on AWS: an access key made by the STS stand-in
// (AccessKeyFor) sees only its account's interfaces (ENI.AccountID), and
// an interface with a Region is seen only in that region (the region of
// the request's signature). Other keys see every account.
//
// Throttling (SetRateLimit) is EC2's for non-mutating calls: a token
// bucket per caller (account and region), 100 calls refilled at 20/s on
// EC2, answered HTTP 503 RequestLimitExceeded when empty.
//
// Failure modes (SetMode, FailNext): Throttle answers HTTP 503 with
// RequestLimitExceeded, ServerError HTTP 500 with InternalError, Down
// closes the connection without an answer. Hold makes calls wait until
// released. Counters: Calls (every DescribeNetworkInterfaces request) and
// CallsFor (requests that named an interface id), Listings (requests that
// named none), Throttled (calls refused by the rate limit).
//
// # STS
//
// STS answers Action=AssumeRole for any role ARN of a 12-digit account
// with temporary credentials whose access key is AccessKeyFor(account);
// Calls counts them per role ARN.
package ec2stub
