-- 0003: what every node shares: the token secret (so that a token made by
-- one node is good on all), and nothing else yet.

CREATE TABLE settings (
    name   TEXT  PRIMARY KEY,
    value  BYTEA NOT NULL
);
