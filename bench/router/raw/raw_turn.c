/* The least a turn can cost in SQLite itself: the router's turn statements, prepared once,
 * run back to back from one thread in C, no Swift, no thread hand-offs (issue 3 benchmark).
 *
 *   cc -O2 -o /tmp/raw_turn bench/router/raw/raw_turn.c -lsqlite3
 *   /tmp/raw_turn /tmp/raw.sqlite [turns=200000] [batch=8] [senders=10000]
 *
 * Same schema (the tables and indexes a turn touches, from StoreMigrations.swift), same
 * pragmas (WAL, synchronous=NORMAL, wal_autocheckpoint=8000), and per turn the same
 * statements as `SQLStore.turnContext` (one SELECT, on a separate reader connection) and
 * `writeAnsweredTurn` on SQLite (UPDATE sessions, INSERT inbound message, INSERT dedupe
 * key, INSERT reply), `batch` turns per transaction (the group commit). History comes from
 * the gateway's cache, so it is not read here. Prints turns/s and CPU µs per turn. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

static void must(int rc, sqlite3 *db, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db)); exit(1);
    }
}
static void exec(sqlite3 *db, const char *sql) { must(sqlite3_exec(db, sql, 0, 0, 0), db, sql); }
static sqlite3_stmt *prep(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s; must(sqlite3_prepare_v2(db, sql, -1, &s, 0), db, sql); return s;
}
static double now_s(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static double cpu_s(void) {
    struct rusage r; getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: raw_turn DB [turns] [batch] [senders]\n"); return 2; }
    long turns = argc > 2 ? atol(argv[2]) : 200000;
    int batch = argc > 3 ? atoi(argv[3]) : 8;
    int senders = argc > 4 ? atoi(argv[4]) : 10000;
    sqlite3 *w, *r;
    must(sqlite3_open(argv[1], &w), w, "open");
    exec(w, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=8000;");
    exec(w, "CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, remote TEXT NOT NULL,"
            " local TEXT NOT NULL, agent TEXT NOT NULL, state TEXT NOT NULL DEFAULT '', created_ms BIGINT NOT NULL,"
            " last_ms BIGINT NOT NULL, message_count INTEGER NOT NULL DEFAULT 0);"
            "CREATE INDEX IF NOT EXISTS sessions_key ON sessions (channel, remote, local, last_ms);"
            "CREATE INDEX IF NOT EXISTS sessions_agent ON sessions (agent, last_ms);"
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id BIGINT, direction TEXT NOT NULL,"
            " body TEXT NOT NULL, status TEXT NOT NULL, channel TEXT NOT NULL, channel_message_id TEXT, segments INTEGER NOT NULL DEFAULT 1,"
            " agent TEXT, processing_ms BIGINT, created_ms BIGINT NOT NULL, remote TEXT NOT NULL, local TEXT NOT NULL);"
            "CREATE INDEX IF NOT EXISTS messages_session ON messages (session_id, id);"
            "CREATE INDEX IF NOT EXISTS messages_created ON messages (created_ms);"
            "CREATE TABLE IF NOT EXISTS opt_outs (channel TEXT NOT NULL, remote TEXT NOT NULL, keyword TEXT NOT NULL,"
            " created_ms BIGINT NOT NULL, PRIMARY KEY (channel, remote));"
            "CREATE TABLE IF NOT EXISTS dedupe_keys (channel TEXT NOT NULL, channel_message_id TEXT NOT NULL, message_id BIGINT,"
            " reply TEXT, created_ms BIGINT NOT NULL, PRIMARY KEY (channel, channel_message_id));"
            "CREATE INDEX IF NOT EXISTS dedupe_created ON dedupe_keys (created_ms);");
    must(sqlite3_open(argv[1], &r), r, "open reader");
    char num[32], id[64], text[64], reply[96];
    long long t0ms = (long long)time(0) * 1000;
    /* one session per sender */
    sqlite3_stmt *count = prep(w, "SELECT COUNT(*) FROM sessions");
    sqlite3_step(count); int have = sqlite3_column_int(count, 0); sqlite3_finalize(count);
    if (have < senders) {
        exec(w, "BEGIN");
        sqlite3_stmt *ins = prep(w, "INSERT INTO sessions (channel, remote, local, agent, created_ms, last_ms) VALUES ('test', ?, '+15550000001', 'echo', ?, ?)");
        for (int i = have; i < senders; i++) {
            snprintf(num, sizeof num, "+1%010d", i);
            sqlite3_bind_text(ins, 1, num, -1, SQLITE_TRANSIENT); sqlite3_bind_int64(ins, 2, t0ms); sqlite3_bind_int64(ins, 3, t0ms);
            must(sqlite3_step(ins), w, "insert session"); sqlite3_reset(ins);
        }
        sqlite3_finalize(ins); exec(w, "COMMIT");
    }
    sqlite3_stmt *ctx = prep(r,
        "SELECT d.channel_message_id, d.reply, o.keyword, s.id, s.channel, s.remote, s.local, s.agent, s.state, s.created_ms, s.last_ms"
        " FROM (SELECT 1 AS one) k LEFT JOIN dedupe_keys d ON d.channel = ?1 AND d.channel_message_id = ?2"
        " LEFT JOIN opt_outs o ON o.channel = ?1 AND o.remote = ?3"
        " LEFT JOIN (SELECT id, channel, remote, local, agent, state, created_ms, last_ms FROM sessions"
        "   WHERE channel = ?1 AND remote = ?3 AND local = ?4 AND last_ms >= ?5 ORDER BY last_ms DESC LIMIT 1) s ON 1 = 1");
    sqlite3_stmt *upd = prep(w, "UPDATE sessions SET last_ms = ?, message_count = message_count + 2, state = COALESCE(?, state) WHERE id = ? RETURNING id");
    sqlite3_stmt *in = prep(w, "INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,"
        " processing_ms, created_ms, remote, local) VALUES (?, 'in', ?, 'answered', ?, ?, 1, ?, ?, ?, ?, ?) RETURNING id");
    sqlite3_stmt *dd = prep(w, "INSERT INTO dedupe_keys (channel, channel_message_id, message_id, reply, created_ms) VALUES (?, ?, ?, ?, ?)");
    sqlite3_stmt *out = prep(w, "INSERT INTO messages (session_id, direction, body, status, channel, channel_message_id, segments, agent,"
        " processing_ms, created_ms, remote, local) VALUES (?, 'out', ?, ?, ?, NULL, 1, ?, ?, ?, ?, ?)");
    srand((unsigned)time(0));
    double w0 = now_s(), c0 = cpu_s();
    long run = (long)time(0);
    for (long t = 0; t < turns; t++) {
        if (t % batch == 0) exec(w, "BEGIN IMMEDIATE");
        long long now = (long long)time(0) * 1000;
        snprintf(num, sizeof num, "+1%010d", rand() % senders);
        snprintf(id, sizeof id, "raw-%ld-%ld", run, t);
        snprintf(text, sizeof text, "hello %ld", t);
        sqlite3_bind_text(ctx, 1, "test", -1, SQLITE_STATIC); sqlite3_bind_text(ctx, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ctx, 3, num, -1, SQLITE_STATIC); sqlite3_bind_text(ctx, 4, "+15550000001", -1, SQLITE_STATIC);
        sqlite3_bind_int64(ctx, 5, now - 3600000);
        must(sqlite3_step(ctx), r, "context");
        long long sid = sqlite3_column_int64(ctx, 3);
        sqlite3_reset(ctx);
        if (sid == 0) { fprintf(stderr, "no session for %s\n", num); return 1; }
        snprintf(reply, sizeof reply, "echo: %s", text);
        sqlite3_bind_int64(upd, 1, now); sqlite3_bind_null(upd, 2); sqlite3_bind_int64(upd, 3, sid);
        must(sqlite3_step(upd), w, "update"); sqlite3_reset(upd);
        sqlite3_bind_int64(in, 1, sid); sqlite3_bind_text(in, 2, text, -1, SQLITE_STATIC); sqlite3_bind_text(in, 3, "test", -1, SQLITE_STATIC);
        sqlite3_bind_text(in, 4, id, -1, SQLITE_STATIC); sqlite3_bind_text(in, 5, "echo", -1, SQLITE_STATIC); sqlite3_bind_int64(in, 6, 0);
        sqlite3_bind_int64(in, 7, now); sqlite3_bind_text(in, 8, num, -1, SQLITE_STATIC); sqlite3_bind_text(in, 9, "+15550000001", -1, SQLITE_STATIC);
        must(sqlite3_step(in), w, "inbound"); long long mid = sqlite3_column_int64(in, 0); sqlite3_reset(in);
        sqlite3_bind_text(dd, 1, "test", -1, SQLITE_STATIC); sqlite3_bind_text(dd, 2, id, -1, SQLITE_STATIC); sqlite3_bind_int64(dd, 3, mid);
        sqlite3_bind_text(dd, 4, reply, -1, SQLITE_STATIC); sqlite3_bind_int64(dd, 5, now);
        must(sqlite3_step(dd), w, "dedupe"); sqlite3_reset(dd);
        sqlite3_bind_int64(out, 1, sid); sqlite3_bind_text(out, 2, reply, -1, SQLITE_STATIC); sqlite3_bind_text(out, 3, "replied_inline", -1, SQLITE_STATIC);
        sqlite3_bind_text(out, 4, "test", -1, SQLITE_STATIC); sqlite3_bind_text(out, 5, "echo", -1, SQLITE_STATIC); sqlite3_bind_int64(out, 6, 0);
        sqlite3_bind_int64(out, 7, now); sqlite3_bind_text(out, 8, num, -1, SQLITE_STATIC); sqlite3_bind_text(out, 9, "+15550000001", -1, SQLITE_STATIC);
        must(sqlite3_step(out), w, "outbound"); sqlite3_reset(out);
        if (t % batch == batch - 1 || t == turns - 1) exec(w, "COMMIT");
    }
    double wall = now_s() - w0, cpu = cpu_s() - c0;
    printf("raw sqlite: turns=%ld batch=%d senders=%d turns/s=%.0f cpu/turn=%.1fus\n", turns, batch, senders, turns / wall, cpu * 1e6 / turns);
    return 0;
}
