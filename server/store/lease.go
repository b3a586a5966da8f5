package store

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// LeaseTask is what to record once a create's task succeeds: who created
// its servers, and the lease to set on them (CreateGpuInstance's
// lease_ttl, or the default lease; a TTL of 0 sets none).
type LeaseTask struct {
	// What was ordered, so that the fleet can be priced.
	RegionID   string `json:"region_id,omitempty"`
	GoodsID    int64  `json:"goods_id,omitempty"`
	ComputeID  string `json:"compute_id,omitempty"`
	ChargeType string `json:"charge_type,omitempty"`

	TaskID  string               `json:"task_id"`
	TTL     time.Duration        `json:"ttl"`
	Action  gpubmsv1.LeaseAction `json:"action"`
	Caller  string               `json:"caller"`
	Created time.Time            `json:"created"`
}

// Creation is who created a server through gpubms, and when.
type Creation struct {
	ResourceID string    `json:"resource_id"`
	Caller     string    `json:"caller"`
	TaskID     string    `json:"task_id"`
	Time       time.Time `json:"time"`
	// What was ordered (empty for records of older versions).
	RegionID   string `json:"region_id,omitempty"`
	GoodsID    int64  `json:"goods_id,omitempty"`
	ComputeID  string `json:"compute_id,omitempty"`
	ChargeType string `json:"charge_type,omitempty"`
}

// PutCreations records who created servers.
func (b *Bolt) PutCreations(_ context.Context, cs []Creation) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketCreations)
		for _, c := range cs {
			v, err := json.Marshal(c)
			if err != nil {
				return err
			}
			if err := bk.Put([]byte(c.ResourceID), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Creations returns every creation recorded, by resource id.
func (b *Bolt) Creations(context.Context) (map[string]Creation, error) {
	out := map[string]Creation{}
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCreations).ForEach(func(k, v []byte) error {
			var c Creation
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
			out[string(k)] = c
			return nil
		})
	})
	return out, err
}

// PutLeases stores leases, one per server, replacing what each server had.
func (b *Bolt) PutLeases(_ context.Context, leases []*gpubmsv1.Lease) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketLeases)
		for _, l := range leases {
			v, err := proto.Marshal(l)
			if err != nil {
				return err
			}
			if err := bk.Put([]byte(l.GetResourceId()), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Leases returns every lease, soonest expiry first.
func (b *Bolt) Leases(context.Context) ([]*gpubmsv1.Lease, error) {
	var out []*gpubmsv1.Lease
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLeases).ForEach(func(_, v []byte) error {
			l := new(gpubmsv1.Lease)
			if err := proto.Unmarshal(v, l); err != nil {
				return err
			}
			out = append(out, l)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b *gpubmsv1.Lease) int {
		return a.GetExpireAt().AsTime().Compare(b.GetExpireAt().AsTime())
	})
	return out, err
}

// GetLease returns the lease of a server, if it has one.
func (b *Bolt) GetLease(_ context.Context, id string) (*gpubmsv1.Lease, bool, error) {
	var l *gpubmsv1.Lease
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketLeases).Get([]byte(id))
		if v == nil {
			return nil
		}
		l = new(gpubmsv1.Lease)
		return proto.Unmarshal(v, l)
	})
	return l, l != nil && err == nil, err
}

// DeleteLeases removes the leases of ids and returns the servers that had one.
func (b *Bolt) DeleteLeases(_ context.Context, ids []string) ([]string, error) {
	var had []string
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketLeases)
		for _, id := range ids {
			if bk.Get([]byte(id)) == nil {
				continue
			}
			if err := bk.Delete([]byte(id)); err != nil {
				return err
			}
			had = append(had, id)
		}
		return nil
	})
	return had, err
}

// UpdateLease stores l if the server's lease is still the one created at
// l's create_time (not replaced or cleared meanwhile); it reports whether
// it did.
func (b *Bolt) UpdateLease(_ context.Context, l *gpubmsv1.Lease) (bool, error) {
	ok := false
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketLeases)
		v := bk.Get([]byte(l.GetResourceId()))
		if v == nil {
			return nil
		}
		cur := new(gpubmsv1.Lease)
		if err := proto.Unmarshal(v, cur); err != nil {
			return err
		}
		if !cur.GetCreateTime().AsTime().Equal(l.GetCreateTime().AsTime()) {
			return nil
		}
		nv, err := proto.Marshal(l)
		if err != nil {
			return err
		}
		ok = true
		return bk.Put([]byte(l.GetResourceId()), nv)
	})
	return ok, err
}

// PutLeaseTask keeps a lease to set when a task succeeds.
func (b *Bolt) PutLeaseTask(_ context.Context, t LeaseTask) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketLeaseTasks).Put([]byte(t.TaskID), v) })
}

// LeaseTasks returns the leases waiting for their tasks.
func (b *Bolt) LeaseTasks(context.Context) ([]LeaseTask, error) {
	var out []LeaseTask
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLeaseTasks).ForEach(func(_, v []byte) error {
			var t LeaseTask
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// DeleteLeaseTask forgets the lease waiting for a task.
func (b *Bolt) DeleteLeaseTask(_ context.Context, taskID string) error {
	return b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketLeaseTasks).Delete([]byte(taskID)) })
}
