package ec2stub_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"go.uber.org/goleak"

	"github.com/vpcflow/vpcflow/enrich/eni/ec2stub"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var table = []*flowlog.ENI{
	{
		InterfaceID: "eni-0123456789abcdef0", AccountID: "111111111111", Region: "us-east-1",
		VPCID: "vpc-0a1b2c3d", SubnetID: "subnet-11111111", AvailabilityZone: "us-east-1a",
		InstanceID: "i-0fedcba9876543210", InterfaceType: "interface",
		SecurityGroupIDs: []string{"sg-00000001", "sg-00000002"},
		Addresses: []netip.Addr{netip.MustParseAddr("10.0.1.10"), netip.MustParseAddr("10.0.1.11"),
			netip.MustParseAddr("2001:db8::10")},
		Tags: map[string]string{"Name": "web-1", "team": "edge"},
	},
	{
		InterfaceID: "eni-22222222", AccountID: "222222222222", Region: "eu-west-1",
		VPCID: "vpc-2", SubnetID: "subnet-2", AvailabilityZone: "eu-west-1b", InterfaceType: "nat_gateway",
		Addresses: []netip.Addr{netip.MustParseAddr("10.9.0.5")},
	},
}

// client returns a real EC2 client for the stand-in at url. It retries
// nothing but a kept-alive connection closed under a read (net.ErrClosed,
// which the SDK's default retryer retries too), so that the tests count
// every call the stand-in answers.
func client(t *testing.T, url, akid, region string) *ec2.Client {
	t.Helper()
	return ec2.NewFromConfig(aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(akid, "secret", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 5
				o.RateLimiter = ratelimit.None
				o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
					return aws.BoolTernary(errors.Is(err, net.ErrClosed))
				})}
			})
		},
	}, func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
}

func TestDescribeDecodesWithRealClient(t *testing.T) {
	stub := ec2stub.NewServer(table)
	srv := httptest.NewServer(stub)
	defer srv.Close()
	c := client(t, srv.URL, "AKIDEXAMPLE", "us-east-1")
	out, err := c.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{
		Filters: []types.Filter{{Name: aws.String("network-interface-id"), Values: []string{"eni-0123456789abcdef0", "eni-unknown"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.NetworkInterfaces) != 1 {
		t.Fatalf("got %d interfaces, want 1", len(out.NetworkInterfaces))
	}
	ni := out.NetworkInterfaces[0]
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("id", aws.ToString(ni.NetworkInterfaceId), "eni-0123456789abcdef0")
	check("owner", aws.ToString(ni.OwnerId), "111111111111")
	check("vpc", aws.ToString(ni.VpcId), "vpc-0a1b2c3d")
	check("subnet", aws.ToString(ni.SubnetId), "subnet-11111111")
	check("az", aws.ToString(ni.AvailabilityZone), "us-east-1a")
	check("instance", aws.ToString(ni.Attachment.InstanceId), "i-0fedcba9876543210")
	check("type", string(ni.InterfaceType), "interface")
	check("primary", aws.ToString(ni.PrivateIpAddress), "10.0.1.10")
	if len(ni.Groups) != 2 || aws.ToString(ni.Groups[1].GroupId) != "sg-00000002" {
		t.Errorf("groups = %+v", ni.Groups)
	}
	if len(ni.PrivateIpAddresses) != 2 || !aws.ToBool(ni.PrivateIpAddresses[0].Primary) || aws.ToBool(ni.PrivateIpAddresses[1].Primary) ||
		aws.ToString(ni.PrivateIpAddresses[1].PrivateIpAddress) != "10.0.1.11" {
		t.Errorf("private addresses = %+v", ni.PrivateIpAddresses)
	}
	if len(ni.Ipv6Addresses) != 1 || aws.ToString(ni.Ipv6Addresses[0].Ipv6Address) != "2001:db8::10" {
		t.Errorf("ipv6 = %+v", ni.Ipv6Addresses)
	}
	if len(ni.TagSet) != 2 || aws.ToString(ni.TagSet[0].Key) != "Name" || aws.ToString(ni.TagSet[0].Value) != "web-1" {
		t.Errorf("tags = %+v", ni.TagSet)
	}
	if stub.Calls() != 1 || stub.CallsFor("eni-0123456789abcdef0") != 1 || stub.CallsFor("eni-unknown") != 1 {
		t.Errorf("calls = %d, per id %d/%d", stub.Calls(), stub.CallsFor("eni-0123456789abcdef0"), stub.CallsFor("eni-unknown"))
	}
}

func TestPagingAndRegionScope(t *testing.T) {
	enis := ec2stub.Synthetic("333333333333", "us-east-1", 23)
	enis = append(enis, table...)
	stub := ec2stub.NewServer(enis)
	stub.SetPageSize(5)
	srv := httptest.NewServer(stub)
	defer srv.Close()
	c := client(t, srv.URL, "AKIDEXAMPLE", "us-east-1")
	var ids []string
	p := ec2.NewDescribeNetworkInterfacesPaginator(c, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(1000)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, ni := range out.NetworkInterfaces {
			ids = append(ids, aws.ToString(ni.NetworkInterfaceId))
		}
	}
	// 23 synthetic + 1 of table in us-east-1; the eu-west-1 one is not seen.
	if len(ids) != 24 || pages != 5 || slices.Contains(ids, "eni-22222222") {
		t.Fatalf("got %d ids in %d pages: %v", len(ids), pages, ids)
	}
}

func TestUnknownIDFailsWithNetworkInterfaceIds(t *testing.T) {
	srv := httptest.NewServer(ec2stub.NewServer(table))
	defer srv.Close()
	c := client(t, srv.URL, "AKIDEXAMPLE", "us-east-1")
	_, err := c.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{"eni-nope"}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidNetworkInterfaceID.NotFound" {
		t.Fatalf("err = %v", err)
	}
}

func TestFailureModes(t *testing.T) {
	stub := ec2stub.NewServer(table)
	srv := httptest.NewServer(stub)
	defer srv.Close()
	c := client(t, srv.URL, "AKIDEXAMPLE", "us-east-1")
	call := func() error {
		_, err := c.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{})
		return err
	}
	stub.FailNext(1, ec2stub.Throttle)
	err := call()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != "RequestLimitExceeded" || !errors.As(err, &re) || re.HTTPStatusCode() != 503 {
		t.Fatalf("throttle: err = %v", err)
	}
	stub.FailNext(1, ec2stub.ServerError)
	if err := call(); !errors.As(err, &re) || re.HTTPStatusCode() != 500 || !errors.As(err, &ae) || ae.ErrorCode() != "InternalError" {
		t.Fatalf("server error: err = %v", err)
	}
	stub.SetMode(ec2stub.Down)
	if err := call(); err == nil || errors.As(err, &ae) {
		t.Fatalf("down: err = %v, want a transport error", err)
	}
	stub.SetMode(ec2stub.OK)
	if err := call(); err != nil {
		t.Fatalf("ok again: %v", err)
	}
	if stub.Calls() != 4 {
		t.Fatalf("calls = %d, want 4", stub.Calls())
	}
}

func TestAssumeRoleScopesAccount(t *testing.T) {
	st := ec2stub.NewSTS()
	stsSrv := httptest.NewServer(st)
	defer stsSrv.Close()
	stsc := sts.NewFromConfig(aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	}, func(o *sts.Options) { o.BaseEndpoint = aws.String(stsSrv.URL) })
	arn := "arn:aws:iam::222222222222:role/vpcflow-reader"
	out, err := stsc.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String("t")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Credentials.AccessKeyId) != ec2stub.AccessKeyFor("222222222222") || out.Credentials.Expiration == nil || st.Calls(arn) != 1 {
		t.Fatalf("credentials = %+v, calls %d", out.Credentials, st.Calls(arn))
	}
	ec2Srv := httptest.NewServer(ec2stub.NewServer(table))
	defer ec2Srv.Close()
	c := client(t, ec2Srv.URL, aws.ToString(out.Credentials.AccessKeyId), "eu-west-1")
	res, err := c.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.NetworkInterfaces) != 1 || aws.ToString(res.NetworkInterfaces[0].NetworkInterfaceId) != "eni-22222222" {
		t.Fatalf("account 222222222222 sees %+v", res.NetworkInterfaces)
	}
}

// The stand-in throttles as EC2 does non-mutating calls: a bucket per
// caller (EC2: 100 refilled at 20/s; here 10 at 2/s to keep the test
// short), answered RequestLimitExceeded (HTTP 503).
func TestRateLimitAsEC2(t *testing.T) {
	stub := ec2stub.NewServer(ec2stub.Synthetic("333333333333", "us-east-1", 30))
	stub.SetRateLimit(2, 10)
	stub.SetPageSize(5)
	srv := httptest.NewServer(stub)
	defer srv.Close()
	c := client(t, srv.URL, "AKIDEXAMPLE", "us-east-1")
	other := client(t, srv.URL, "AKIDEXAMPLE", "eu-west-1")
	ok, throttled := 0, 0
	start := time.Now()
	for range 30 {
		_, err := c.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(5)})
		var ae smithy.APIError
		var re *awshttp.ResponseError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ae) && ae.ErrorCode() == "RequestLimitExceeded" && errors.As(err, &re) && re.HTTPStatusCode() == 503:
			throttled++
		default:
			t.Fatal(err)
		}
	}
	// 10 at once, then 2 a second. (Counted by the stand-in: the client
	// retries a call whose kept-alive connection was closed under it.)
	answered := stub.Calls() - stub.Throttled()
	if refilled := int(2*time.Since(start).Seconds()) + 1; answered < 10 || answered > 10+refilled || throttled < 30-10-refilled || ok+throttled != 30 {
		t.Fatalf("ok %d, throttled %d (stand-in says %d)", ok, throttled, stub.Throttled())
	}
	// Another region is another bucket.
	if _, err := other.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{}); err != nil {
		t.Fatalf("other region: %v", err)
	}
	// Paging follows NextToken through the table.
	p := ec2.NewDescribeNetworkInterfacesPaginator(other, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(5)})
	n := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.NetworkInterfaces)
	}
	if n != 0 { // the synthetic interfaces are in us-east-1
		t.Fatalf("eu-west-1 lists %d", n)
	}
}

// Wildcards in network-interface-id values select ids as EC2's filters do
// (* any run of characters, ? one), page by page; SetWildcards(false)
// compares them literally.
func TestWildcardFilter(t *testing.T) {
	var enis []*flowlog.ENI
	for i := range 300 {
		enis = append(enis, &flowlog.ENI{InterfaceID: fmt.Sprintf("eni-%x%07x", i%16, i)})
	}
	stub := ec2stub.NewServer(enis)
	srv := httptest.NewServer(stub)
	defer srv.Close()
	ec := client(t, srv.URL, "AKIDANY", "us-east-1")
	list := func(values ...string) []string {
		var ids []string
		in := &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(5),
			Filters: []types.Filter{{Name: aws.String("network-interface-id"), Values: values}}}
		for {
			out, err := ec.DescribeNetworkInterfaces(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			for _, ni := range out.NetworkInterfaces {
				ids = append(ids, aws.ToString(ni.NetworkInterfaceId))
			}
			if out.NextToken == nil {
				return ids
			}
			in.NextToken = out.NextToken
		}
	}
	seen := map[string]bool{}
	for d := range 16 {
		ids := list(fmt.Sprintf("eni-%x*", d))
		if len(ids) < 18 || len(ids) > 19 {
			t.Errorf("eni-%x*: %d ids", d, len(ids))
		}
		for _, id := range ids {
			if id[4] != fmt.Sprintf("%x", d)[0] || seen[id] {
				t.Errorf("eni-%x*: %s", d, id)
			}
			seen[id] = true
		}
	}
	if len(seen) != len(enis) {
		t.Errorf("the 16 prefixes listed %d of %d interfaces", len(seen), len(enis))
	}
	want := []string{"eni-00000010"}
	for i := range 16 {
		want = append(want, fmt.Sprintf("eni-%x%07x", i, i)) // eni-X000000X
	}
	slices.Sort(want)
	if ids := list("eni-?000000?", "eni-00000010"); !slices.Equal(ids, want) {
		t.Errorf("eni-?000000? and one id: %v, want %v", ids, want)
	}
	stub.SetWildcards(false)
	if ids := list("eni-0*"); len(ids) != 0 {
		t.Errorf("literal eni-0*: %v", ids)
	}
}

func TestSyntheticIndex(t *testing.T) {
	for _, i := range []int{0, 1, 15, 16, 17, 255, 299_999, 1 << 40} {
		if got, ok := ec2stub.SyntheticIndex(ec2stub.SyntheticID(i)); !ok || got != i {
			t.Errorf("SyntheticIndex(SyntheticID(%d)) = %d, %v", i, got, ok)
		}
	}
	for _, id := range []string{"eni-1", "eni-0123456789abcdef0x", "vpc-00000000000000000", "eni-z0000000000000000", "eni-00000000000000000x"} {
		if _, ok := ec2stub.SyntheticIndex(id); ok {
			t.Errorf("SyntheticIndex(%q) ok", id)
		}
	}
}
