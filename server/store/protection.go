package store

import (
	"context"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// SetProtection protects the servers (protected true) or lifts their
// protection, recording who and why, in one transaction. It returns the
// servers' protection as now stored.
func (b *Bolt) SetProtection(_ context.Context, ids []string, protected bool, reason, caller string) ([]*gpubmsv1.Protection, error) {
	now := timestamppb.New(b.now())
	out := make([]*gpubmsv1.Protection, 0, len(ids))
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketProtection)
		for _, id := range ids {
			p := &gpubmsv1.Protection{ResourceId: id, Protected: protected, Reason: reason, Caller: caller, UpdateTime: now}
			if !protected {
				if err := bk.Delete([]byte(id)); err != nil {
					return err
				}
				out = append(out, p)
				continue
			}
			v, err := proto.Marshal(p)
			if err != nil {
				return err
			}
			if err := bk.Put([]byte(id), v); err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Protected returns the protection of those of ids that are protected.
func (b *Bolt) Protected(_ context.Context, ids []string) (map[string]*gpubmsv1.Protection, error) {
	out := map[string]*gpubmsv1.Protection{}
	err := b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketProtection)
		for _, id := range ids {
			v := bk.Get([]byte(id))
			if v == nil {
				continue
			}
			p := new(gpubmsv1.Protection)
			if err := proto.Unmarshal(v, p); err != nil {
				return err
			}
			out[id] = p
		}
		return nil
	})
	return out, err
}

// ListProtections returns every protected server, by resource id.
func (b *Bolt) ListProtections(context.Context) ([]*gpubmsv1.Protection, error) {
	var out []*gpubmsv1.Protection
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketProtection).ForEach(func(_, v []byte) error {
			p := new(gpubmsv1.Protection)
			if err := proto.Unmarshal(v, p); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}
