package kinesissource

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// dynamoAPI is the part of the DynamoDB client the lease table uses.
type dynamoAPI interface {
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Attribute names of the Kinesis Client Library's lease table.
const (
	attrKey           = "leaseKey"
	attrOwner         = "leaseOwner"
	attrCounter       = "leaseCounter"
	attrCheckpoint    = "checkpoint"
	attrCheckpointSub = "checkpointSubSequenceNumber"
	attrOwnerSwitches = "ownerSwitchesSinceCheckpoint"
	attrParents       = "parentShardId" // string set
	// attrCheckpointOwner marks a lease being handed over, as KCL 3.x's
	// graceful lease handoff does: leaseOwner already names the taker, and
	// checkpointOwner the old owner, the only one allowed to write the
	// checkpoint until it removes the attribute.
	attrCheckpointOwner = "checkpointOwner"
)

// lease is one item of the lease table: a shard, its owner and checkpoint.
type lease struct {
	Key           string
	Owner         string
	Counter       int64
	Checkpoint    position
	OwnerSwitches int64
	Parents       []string
	// CheckpointOwner is set while the lease is handed over from it to
	// Owner.
	CheckpointOwner string
}

// handingOver reports whether l is being handed over by owner.
func (l *lease) handingOver(owner string) bool {
	return l.CheckpointOwner != "" && l.CheckpointOwner == owner
}

// errLeaseLost is returned when a conditional write finds the lease changed:
// another instance took it.
var errLeaseLost = errors.New("lease lost")

// leaseTable reads and writes leases with conditional writes on
// leaseCounter (and leaseOwner), so concurrent instances never both win.
type leaseTable struct {
	db    dynamoAPI
	name  string
	owner string
}

// ensure creates the table (on-demand billing, hash key leaseKey) when it
// does not exist and waits until it is active.
func (t *leaseTable) ensure(ctx context.Context) error {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		out, err := t.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &t.name})
		var nf *types.ResourceNotFoundException
		switch {
		case errors.As(err, &nf):
			_, err = t.db.CreateTable(ctx, &dynamodb.CreateTableInput{
				TableName:            &t.name,
				BillingMode:          types.BillingModePayPerRequest,
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrKey), AttributeType: types.ScalarAttributeTypeS}},
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrKey), KeyType: types.KeyTypeHash}},
			})
			var inUse *types.ResourceInUseException
			if err != nil && !errors.As(err, &inUse) {
				return fmt.Errorf("create lease table %s: %w", t.name, err)
			}
		case err != nil:
			return fmt.Errorf("describe lease table %s: %w", t.name, err)
		case out.Table != nil && out.Table.TableStatus == types.TableStatusActive:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for lease table %s: %w", t.name, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// list returns every lease (strongly consistent scan).
func (t *leaseTable) list(ctx context.Context) ([]lease, error) {
	var out []lease
	var start map[string]types.AttributeValue
	for {
		res, err := t.db.Scan(ctx, &dynamodb.ScanInput{TableName: &t.name, ConsistentRead: aws.Bool(true), ExclusiveStartKey: start})
		if err != nil {
			return nil, fmt.Errorf("scan lease table %s: %w", t.name, err)
		}
		for _, it := range res.Items {
			l, err := fromItem(it)
			if err != nil {
				return nil, fmt.Errorf("lease table %s: %w", t.name, err)
			}
			out = append(out, l)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = res.LastEvaluatedKey
	}
}

// create adds an unowned lease unless one exists for the shard already. It
// reports whether it created it.
func (t *leaseTable) create(ctx context.Context, l lease) (bool, error) {
	item := map[string]types.AttributeValue{
		attrKey:           str(l.Key),
		attrCounter:       num(0),
		attrCheckpoint:    str(l.Checkpoint.Seq),
		attrCheckpointSub: num(l.Checkpoint.Sub),
		attrOwnerSwitches: num(0),
	}
	if len(l.Parents) > 0 {
		item[attrParents] = &types.AttributeValueMemberSS{Value: l.Parents}
	}
	_, err := t.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                &t.name,
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#k)"),
		ExpressionAttributeNames: map[string]string{"#k": attrKey},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create lease %s: %w", l.Key, err)
	}
	return true, nil
}

// renew increments the counter of a lease this instance owns and, when cp
// is set, writes the checkpoint (resetting ownerSwitchesSinceCheckpoint).
// With release it also gives the lease up (removes leaseOwner). l.Counter
// is updated on success.
//
// While this instance hands the lease over (l.CheckpointOwner is this
// instance), renew is conditional on checkpointOwner instead of leaseOwner,
// and release removes checkpointOwner: the taker named in leaseOwner then
// reads from the checkpoint written. A lease found marked for a hand-off
// by this instance (another instance asked for it) is switched to that
// state: l.Owner, l.CheckpointOwner and l.Counter are updated and the write
// is made as the hand-off's.
//
// A write that failed on the client side (a timeout, a cancelled context)
// may have been applied: when the condition then fails but the item still
// names this instance as owner, the write is retried with the counter read
// back.
func (t *leaseTable) renew(ctx context.Context, l *lease, cp *position, release bool) error {
	err := t.renewOnce(ctx, l, cp, release)
	if !errors.Is(err, errLeaseLost) {
		return err
	}
	cur, ok, gerr := t.get(ctx, l.Key)
	if gerr != nil || !ok {
		return errLeaseLost
	}
	switch {
	case cur.handingOver(t.owner):
		l.Owner, l.CheckpointOwner = cur.Owner, cur.CheckpointOwner
	case cur.Owner == t.owner && cur.CheckpointOwner == "" && l.CheckpointOwner == "":
	default:
		return errLeaseLost
	}
	l.Counter = cur.Counter
	return t.renewOnce(ctx, l, cp, release)
}

// get reads one lease (strongly consistent).
func (t *leaseTable) get(ctx context.Context, key string) (lease, bool, error) {
	out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &t.name,
		Key:            map[string]types.AttributeValue{attrKey: str(key)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return lease{}, false, err
	}
	if len(out.Item) == 0 {
		return lease{}, false, nil
	}
	l, err := fromItem(out.Item)
	return l, err == nil, err
}

func (t *leaseTable) renewOnce(ctx context.Context, l *lease, cp *position, release bool) error {
	names := map[string]string{"#c": attrCounter, "#cpo": attrCheckpointOwner}
	vals := map[string]types.AttributeValue{
		":old": num(l.Counter), ":new": num(l.Counter + 1), ":me": str(t.owner),
	}
	handoff := l.handingOver(t.owner)
	cond := "#c = :old AND #o = :me AND attribute_not_exists(#cpo)"
	if handoff {
		cond = "#c = :old AND #cpo = :me"
	}
	if !handoff || release && cp != nil && cp.Seq == cpShardEnd {
		names["#o"] = attrOwner // DynamoDB refuses names an expression does not use
	}
	expr := "SET #c = :new"
	if cp != nil {
		names["#cp"], names["#sub"], names["#sw"] = attrCheckpoint, attrCheckpointSub, attrOwnerSwitches
		vals[":cp"], vals[":sub"], vals[":zero"] = str(cp.Seq), num(cp.Sub), num(0)
		expr += ", #cp = :cp, #sub = :sub, #sw = :zero"
	}
	switch {
	case release && handoff && cp != nil && cp.Seq == cpShardEnd:
		expr += " REMOVE #cpo, #o" // nothing left to read: nobody owns it
	case release && handoff:
		expr += " REMOVE #cpo"
	case release:
		expr += " REMOVE #o"
	}
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &t.name,
		Key:                       map[string]types.AttributeValue{attrKey: str(l.Key)},
		UpdateExpression:          &expr,
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	})
	if isConditionFailed(err) {
		return errLeaseLost
	}
	if err != nil {
		return err
	}
	l.Counter++
	if cp != nil {
		l.Checkpoint, l.OwnerSwitches = *cp, 0
	}
	if release {
		if !handoff || cp != nil && cp.Seq == cpShardEnd {
			l.Owner = ""
		}
		l.CheckpointOwner = ""
	}
	return nil
}

// take makes this instance the owner of a lease last seen as l (an expired,
// unowned or stolen lease) and returns the lease as written. A hand-off in
// progress is ended: its old owner can no longer checkpoint.
func (t *leaseTable) take(ctx context.Context, l lease) (lease, error) {
	names := map[string]string{"#c": attrCounter, "#o": attrOwner, "#cpo": attrCheckpointOwner}
	vals := map[string]types.AttributeValue{":old": num(l.Counter), ":new": num(l.Counter + 1), ":me": str(t.owner)}
	expr := "SET #c = :new, #o = :me"
	if l.Owner != "" && l.Owner != t.owner {
		names["#sw"] = attrOwnerSwitches
		vals[":one"] = num(1)
		expr += " ADD #sw :one"
	}
	expr += " REMOVE #cpo"
	return t.update(ctx, l.Key, expr, "#c = :old", names, vals)
}

// update applies a conditional update and returns the lease as written.
func (t *leaseTable) update(ctx context.Context, key, expr, cond string, names map[string]string, vals map[string]types.AttributeValue) (lease, error) {
	out, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &t.name,
		Key:                       map[string]types.AttributeValue{attrKey: str(key)},
		UpdateExpression:          &expr,
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return lease{}, errLeaseLost
	}
	if err != nil {
		return lease{}, err
	}
	return fromItem(out.Attributes)
}

// requestHandoff asks the owner of l (last seen so) to hand it over to this
// instance: leaseOwner becomes this instance and checkpointOwner the old
// owner, which stops reading, checkpoints what was acknowledged and then
// removes checkpointOwner (KCL 3.x's graceful lease handoff).
func (t *leaseTable) requestHandoff(ctx context.Context, l lease) (lease, error) {
	names := map[string]string{"#c": attrCounter, "#o": attrOwner, "#cpo": attrCheckpointOwner, "#sw": attrOwnerSwitches}
	vals := map[string]types.AttributeValue{
		":old": num(l.Counter), ":new": num(l.Counter + 1), ":me": str(t.owner),
		":from": str(l.Owner), ":one": num(1),
	}
	return t.update(ctx, l.Key, "SET #c = :new, #o = :me, #cpo = :from ADD #sw :one",
		"#c = :old AND #o = :from AND attribute_not_exists(#cpo)", names, vals)
}

// forceHandoff ends a hand-off to this instance that its old owner did not
// complete in time: checkpointOwner is removed (the old owner can no longer
// checkpoint) and the lease, last seen as l, is this instance's.
func (t *leaseTable) forceHandoff(ctx context.Context, l lease) (lease, error) {
	names := map[string]string{"#c": attrCounter, "#o": attrOwner, "#cpo": attrCheckpointOwner}
	vals := map[string]types.AttributeValue{
		":old": num(l.Counter), ":new": num(l.Counter + 1), ":me": str(t.owner), ":from": str(l.CheckpointOwner),
	}
	return t.update(ctx, l.Key, "SET #c = :new REMOVE #cpo", "#c = :old AND #o = :me AND #cpo = :from", names, vals)
}

// abandonHandoff gives up a lease this instance asked for (on Close): the
// old owner still completes its hand-off and the lease is then unowned.
func (t *leaseTable) abandonHandoff(ctx context.Context, key string) error {
	names := map[string]string{"#c": attrCounter, "#o": attrOwner}
	vals := map[string]types.AttributeValue{":me": str(t.owner), ":one": num(1)}
	_, err := t.update(ctx, key, "ADD #c :one REMOVE #o", "#o = :me", names, vals)
	return err
}

// remove deletes the lease of a finished shard that left the stream
// (trimmed), unless it changed since it was read.
func (t *leaseTable) remove(ctx context.Context, l lease) error {
	_, err := t.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &t.name,
		Key:                       map[string]types.AttributeValue{attrKey: str(l.Key)},
		ConditionExpression:       aws.String("#c = :old AND #cp = :end"),
		ExpressionAttributeNames:  map[string]string{"#c": attrCounter, "#cp": attrCheckpoint},
		ExpressionAttributeValues: map[string]types.AttributeValue{":old": num(l.Counter), ":end": str(cpShardEnd)},
	})
	if isConditionFailed(err) {
		return nil
	}
	return err
}

// removeExpired deletes the lease of a shard that left the stream before
// it was read to its end, if the lease did not change since l was read.
// removed is false when it did (its owner renewed it meanwhile): the next
// shard sync tries again.
func (t *leaseTable) removeExpired(ctx context.Context, l lease) (removed bool, err error) {
	_, err = t.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &t.name,
		Key:                       map[string]types.AttributeValue{attrKey: str(l.Key)},
		ConditionExpression:       aws.String("#c = :old"),
		ExpressionAttributeNames:  map[string]string{"#c": attrCounter},
		ExpressionAttributeValues: map[string]types.AttributeValue{":old": num(l.Counter)},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// fromItem decodes a lease item. Attributes other tools added are ignored.
func fromItem(it map[string]types.AttributeValue) (lease, error) {
	var l lease
	var err error
	l.Key, err = getS(it, attrKey, true)
	if err != nil {
		return l, err
	}
	errs := []error{}
	get := func(f func() error) {
		if err := f(); err != nil {
			errs = append(errs, fmt.Errorf("lease %s: %w", l.Key, err))
		}
	}
	get(func() (err error) { l.Owner, err = getS(it, attrOwner, false); return })
	get(func() (err error) { l.Counter, err = getN(it, attrCounter); return })
	get(func() (err error) { l.Checkpoint.Seq, err = getS(it, attrCheckpoint, false); return })
	get(func() (err error) { l.Checkpoint.Sub, err = getN(it, attrCheckpointSub); return })
	get(func() (err error) { l.OwnerSwitches, err = getN(it, attrOwnerSwitches); return })
	get(func() (err error) { l.CheckpointOwner, err = getS(it, attrCheckpointOwner, false); return })
	switch v := it[attrParents].(type) {
	case nil:
	case *types.AttributeValueMemberSS:
		l.Parents = v.Value
	case *types.AttributeValueMemberS: // tolerate a single string
		l.Parents = []string{v.Value}
	default:
		errs = append(errs, fmt.Errorf("lease %s: %s is not a string set", l.Key, attrParents))
	}
	return l, errors.Join(errs...)
}

func getS(it map[string]types.AttributeValue, k string, required bool) (string, error) {
	switch v := it[k].(type) {
	case nil:
		if required {
			return "", fmt.Errorf("item without %s", k)
		}
		return "", nil
	case *types.AttributeValueMemberS:
		return v.Value, nil
	default:
		return "", fmt.Errorf("%s is not a string", k)
	}
}

func getN(it map[string]types.AttributeValue, k string) (int64, error) {
	switch v := it[k].(type) {
	case nil:
		return 0, nil
	case *types.AttributeValueMemberN:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", k, err)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("%s is not a number", k)
	}
}
