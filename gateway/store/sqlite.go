package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeout is how long a writer waits for another writer before failing;
// the gateway's writers are short transactions, so seconds are plenty.
const busyTimeout = 5 * time.Second

// schema is applied at open; every statement is idempotent so opening an
// existing file is safe.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS calls (
		call_id    TEXT PRIMARY KEY,
		bot_id     TEXT NOT NULL,
		status     TEXT NOT NULL,
		created_ms INTEGER NOT NULL,
		notify_seq INTEGER NOT NULL DEFAULT 0,
		request    BLOB,
		doc        BLOB NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS calls_bot_created ON calls(bot_id, created_ms DESC, call_id DESC)`,
	`CREATE INDEX IF NOT EXISTS calls_status ON calls(status)`,
	`CREATE TABLE IF NOT EXISTS outbox (
		id              INTEGER PRIMARY KEY AUTOINCREMENT,
		call_id         TEXT NOT NULL,
		seq             INTEGER NOT NULL,
		idem_key        TEXT NOT NULL UNIQUE,
		status          TEXT NOT NULL,
		url             TEXT NOT NULL,
		headers         BLOB,
		body            BLOB NOT NULL,
		state           TEXT NOT NULL,
		attempts        INTEGER NOT NULL DEFAULT 0,
		next_attempt_ms INTEGER NOT NULL,
		created_ms      INTEGER NOT NULL,
		delivered_ms    INTEGER NOT NULL DEFAULT 0,
		last_error      TEXT NOT NULL DEFAULT '',
		last_http_code  INTEGER NOT NULL DEFAULT 0,
		UNIQUE(call_id, seq)
	)`,
	`CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(state, call_id, id)`,
}

// SQLite is the embedded default Store.
type SQLite struct {
	db     *sql.DB
	closed atomic.Bool
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the database file at path. WAL lets
// the interactions page read while the outbox writes; synchronous=FULL makes
// every committed notification survive a power cut, not only a kill -9;
// _txlock=immediate takes the write lock at BEGIN so read-modify-write
// transactions never fail half-way with SQLITE_BUSY.
func OpenSQLite(path string) (*SQLite, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// One connection: SQLite takes one writer at a time anyway, and queueing
	// in database/sql (bounded by each caller's context) replaces SQLite's
	// busy-wait, which under a burst of dialouts on a loaded machine ran out
	// its busy_timeout and failed requests with SQLITE_BUSY. busy_timeout
	// still covers another process on the same file.
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, stmt := range schema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate %s: %w", path, err)
		}
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("read journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: journal_mode is %q, want wal", path, mode)
	}
	return &SQLite{db: db}, nil
}

// Close closes the database.
func (s *SQLite) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}

func (s *SQLite) check() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMs(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// CreateCall inserts c.
func (s *SQLite) CreateCall(ctx context.Context, c *Call) error {
	if err := s.check(); err != nil {
		return err
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode call %s: %w", c.CallID, err)
	}
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO calls(call_id, bot_id, status, created_ms, notify_seq, request, doc) VALUES(?,?,?,?,?,?,?)`,
		c.CallID, c.BotID, c.Status, ms(c.CreatedAt), c.NotifySeq, []byte(c.Request), doc)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE constraint") {
			return fmt.Errorf("call %s: %w", c.CallID, ErrExists)
		}
		return fmt.Errorf("insert call %s: %w", c.CallID, err)
	}
	return nil
}

type rowScanner interface{ Scan(dest ...any) error }

func scanCall(r rowScanner) (*Call, error) {
	var (
		c       Call
		seq     int
		req     []byte
		doc     []byte
		created int64
	)
	if err := r.Scan(&seq, &req, &doc, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(doc, &c); err != nil {
		return nil, fmt.Errorf("decode call record: %w", err)
	}
	c.NotifySeq = seq
	if len(req) > 0 {
		c.Request = req
	}
	return &c, nil
}

const callCols = `notify_seq, request, doc, created_ms`

// GetCall returns the record of callID.
func (s *SQLite) GetCall(ctx context.Context, callID string) (*Call, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	c, err := scanCall(s.db.QueryRowContext(ctx, `SELECT `+callCols+` FROM calls WHERE call_id=?`, callID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("call %s: %w", callID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get call %s: %w", callID, err)
	}
	return c, nil
}

// UpdateCall runs fn on the record and queues its notifications atomically.
func (s *SQLite) UpdateCall(ctx context.Context, callID string, fn func(c *Call) ([]Notification, error)) error {
	errs, err := s.UpdateCalls(ctx, []CallUpdate{{CallID: callID, Fn: fn}})
	if err != nil {
		return err
	}
	return errs[0]
}

// UpdateCalls applies a batch in one transaction: one commit (one fsync)
// for all, which is what lets an engine link absorb bursts of events.
func (s *SQLite) UpdateCalls(ctx context.Context, updates []CallUpdate) ([]error, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("update calls: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	errs := make([]error, len(updates))
	now := time.Now()
	for i, u := range updates {
		errs[i], err = updateTx(ctx, tx, u.CallID, u.Fn, now)
		if err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update calls: commit: %w", err)
	}
	return errs, nil
}

// updateTx applies one update inside tx. skip is the update's own failure
// (ErrNotFound, fn's error: nothing of it was written); err is a database
// failure that dooms the transaction.
func updateTx(ctx context.Context, tx *sql.Tx, callID string, fn func(c *Call) ([]Notification, error), now time.Time) (skip, err error) {
	c, err := scanCall(tx.QueryRowContext(ctx, `SELECT `+callCols+` FROM calls WHERE call_id=?`, callID))
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("call %s: %w", callID, ErrNotFound), nil
	}
	if err != nil {
		return nil, fmt.Errorf("update call %s: read: %w", callID, err)
	}
	notes, ferr := fn(c)
	if ferr != nil {
		return ferr, nil
	}
	for i := range notes {
		n := &notes[i]
		c.NotifySeq++
		n.CallID = callID
		n.Seq = c.NotifySeq
		n.Key = IdempotencyKey(callID, n.Seq)
		n.State = DeliveryPending
		if n.CreatedAt.IsZero() {
			n.CreatedAt = now
		}
		if n.NextAttempt.IsZero() {
			n.NextAttempt = n.CreatedAt
		}
		hdr, err := json.Marshal(n.Headers)
		if err != nil {
			return nil, fmt.Errorf("encode headers: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO outbox(call_id, seq, idem_key, status, url, headers, body, state, next_attempt_ms, created_ms)
			VALUES(?,?,?,?,?,?,?,?,?,?)`,
			n.CallID, n.Seq, n.Key, n.Status, n.URL, hdr, []byte(n.Body), n.State, ms(n.NextAttempt), ms(n.CreatedAt))
		if err != nil {
			return nil, fmt.Errorf("queue notification %s: %w", n.Key, err)
		}
		if n.ID, err = res.LastInsertId(); err != nil {
			return nil, fmt.Errorf("queue notification %s: %w", n.Key, err)
		}
	}
	c.UpdatedAt = now.UTC()
	doc, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode call %s: %w", callID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE calls SET status=?, notify_seq=?, doc=? WHERE call_id=?`,
		c.Status, c.NotifySeq, doc, callID); err != nil {
		return nil, fmt.Errorf("update call %s: %w", callID, err)
	}
	return nil, nil
}

// IdempotencyKey is the key of a call's seq-th notification. It is derived,
// not random, so it is the same on every retry and after any restart.
func IdempotencyKey(callID string, seq int) string {
	return callID + "." + strconv.Itoa(seq)
}

// ErrBadCursor: the pagination cursor is not one ListCalls returned.
var ErrBadCursor = errors.New("bad cursor")

func encodeCursor(created int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(created, 10) + ":" + id))
}

func decodeCursor(cur string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil {
		return 0, "", ErrBadCursor
	}
	ts, id, ok := strings.Cut(string(b), ":")
	if !ok {
		return 0, "", ErrBadCursor
	}
	v, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, "", ErrBadCursor
	}
	return v, id, nil
}

// MaxPage bounds one page of ListCalls.
const MaxPage = 500

// ListCalls returns a page of calls, newest first.
func (s *SQLite) ListCalls(ctx context.Context, f Filter) ([]Call, string, error) {
	if err := s.check(); err != nil {
		return nil, "", err
	}
	limit := f.Limit
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	var (
		where []string
		args  []any
	)
	if f.BotID != "" {
		where = append(where, "bot_id=?")
		args = append(args, f.BotID)
	}
	if len(f.Status) > 0 {
		where = append(where, "status IN (?"+strings.Repeat(",?", len(f.Status)-1)+")")
		for _, st := range f.Status {
			args = append(args, st)
		}
	}
	if !f.From.IsZero() {
		where = append(where, "created_ms>=?")
		args = append(args, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		where = append(where, "created_ms<?")
		args = append(args, f.To.UnixMilli())
	}
	if f.Cursor != "" {
		cts, cid, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(created_ms<? OR (created_ms=? AND call_id<?))")
		args = append(args, cts, cts, cid)
	}
	q := `SELECT ` + callCols + `, call_id FROM calls`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_ms DESC, call_id DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list calls: %w", err)
	}
	defer rows.Close()
	var (
		out  []Call
		next string
	)
	for rows.Next() {
		var (
			c       Call
			seq     int
			req     []byte
			doc     []byte
			created int64
			id      string
		)
		if err := rows.Scan(&seq, &req, &doc, &created, &id); err != nil {
			return nil, "", fmt.Errorf("list calls: %w", err)
		}
		if len(out) == limit {
			last := out[len(out)-1]
			next = encodeCursor(last.CreatedAt.UnixMilli(), last.CallID)
			break
		}
		if err := json.Unmarshal(doc, &c); err != nil {
			return nil, "", fmt.Errorf("list calls: decode %s: %w", id, err)
		}
		c.NotifySeq = seq
		c.CreatedAt = fromMs(created)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list calls: %w", err)
	}
	return out, next, nil
}

// OpenCalls returns the calls not yet in a final status.
func (s *SQLite) OpenCalls(ctx context.Context) ([]Call, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+callCols+` FROM calls WHERE status NOT IN (?,?,?) ORDER BY created_ms`,
		StatusCompleted, StatusFailed, StatusMachineDetected)
	if err != nil {
		return nil, fmt.Errorf("open calls: %w", err)
	}
	defer rows.Close()
	var out []Call
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("open calls: %w", err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

const noteCols = `id, call_id, seq, idem_key, status, url, headers, body, state, attempts, next_attempt_ms, created_ms, delivered_ms, last_error, last_http_code`

func scanNote(r rowScanner) (Notification, error) {
	var (
		n                        Notification
		hdr, body                []byte
		next, created, delivered int64
	)
	if err := r.Scan(&n.ID, &n.CallID, &n.Seq, &n.Key, &n.Status, &n.URL, &hdr, &body, &n.State, &n.Attempts,
		&next, &created, &delivered, &n.LastError, &n.LastHTTPCode); err != nil {
		return n, err
	}
	if len(hdr) > 0 {
		if err := json.Unmarshal(hdr, &n.Headers); err != nil {
			return n, fmt.Errorf("decode headers of %s: %w", n.Key, err)
		}
	}
	n.Body = body
	n.NextAttempt, n.CreatedAt, n.DeliveredAt = fromMs(next), fromMs(created), fromMs(delivered)
	return n, nil
}

// headsWhere selects, per call, the oldest pending notification: a call's
// next notification waits for the final outcome of the previous one.
const headsWhere = `o.state='pending' AND o.id=(SELECT MIN(p.id) FROM outbox p WHERE p.call_id=o.call_id AND p.state='pending')`

// DueNotifications returns the due heads of the per-call queues.
func (s *SQLite) DueNotifications(ctx context.Context, now time.Time, busy map[string]bool, limit int) ([]Notification, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+prefixed(noteCols)+` FROM outbox o WHERE `+headsWhere+
		` AND o.next_attempt_ms<=? ORDER BY o.next_attempt_ms, o.id LIMIT ?`, now.UnixMilli(), limit+len(busy))
	if err != nil {
		return nil, fmt.Errorf("due notifications: %w", err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		n, err := scanNote(rows)
		if err != nil {
			return nil, fmt.Errorf("due notifications: %w", err)
		}
		if busy[n.CallID] {
			continue
		}
		if len(out) < limit {
			out = append(out, n)
		}
	}
	return out, rows.Err()
}

func prefixed(cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = "o." + parts[i]
	}
	return strings.Join(parts, ", ")
}

// NextDue returns when the earliest queue head of a call not in busy is due.
func (s *SQLite) NextDue(ctx context.Context, busy map[string]bool) (time.Time, bool, error) {
	if err := s.check(); err != nil {
		return time.Time{}, false, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT o.call_id, o.next_attempt_ms FROM outbox o WHERE `+headsWhere+
		` ORDER BY o.next_attempt_ms LIMIT ?`, len(busy)+1)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   string
			next int64
		)
		if err := rows.Scan(&id, &next); err != nil {
			return time.Time{}, false, fmt.Errorf("next due: %w", err)
		}
		if !busy[id] {
			return time.UnixMilli(next), true, nil
		}
	}
	return time.Time{}, false, rows.Err()
}

// RecordAttempt stores one delivery attempt's outcome.
func (s *SQLite) RecordAttempt(ctx context.Context, id int64, o Outcome) error {
	if err := s.check(); err != nil {
		return err
	}
	var delivered int64
	if o.State == DeliveryDelivered {
		delivered = ms(o.At)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE outbox SET state=?, attempts=attempts+1, next_attempt_ms=?, delivered_ms=?, last_error=?, last_http_code=?
		WHERE id=? AND state='pending'`, o.State, ms(o.Next), delivered, o.Err, o.HTTPCode, id)
	if err != nil {
		return fmt.Errorf("record attempt %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("record attempt %d: %w", id, ErrNotFound)
	}
	return nil
}

// Notifications returns callID's outbox rows in order.
func (s *SQLite) Notifications(ctx context.Context, callID string) ([]Notification, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+noteCols+` FROM outbox WHERE call_id=? ORDER BY seq`, callID)
	if err != nil {
		return nil, fmt.Errorf("notifications of %s: %w", callID, err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		n, err := scanNote(rows)
		if err != nil {
			return nil, fmt.Errorf("notifications of %s: %w", callID, err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// PendingCount returns how many notifications wait for delivery.
func (s *SQLite) PendingCount(ctx context.Context) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE state='pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("pending count: %w", err)
	}
	return n, nil
}

// Prune deletes old settled calls and their notifications in one transaction.
func (s *SQLite) Prune(ctx context.Context, before time.Time) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	// A call still owing a notification is kept whatever its age: pruning
	// must never lose one.
	const victims = `SELECT call_id FROM calls WHERE created_ms < ? AND status IN (?,?,?)
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.call_id = calls.call_id AND o.state = 'pending')`
	args := []any{before.UnixMilli(), StatusCompleted, StatusFailed, StatusMachineDetected}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE call_id IN (`+victims+`)`, args...); err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM calls WHERE call_id IN (`+victims+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("prune calls: %w", err)
	}
	n, _ := res.RowsAffected()
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune: commit: %w", err)
	}
	return int(n), nil
}
