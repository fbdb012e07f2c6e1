-- One table per input folder (input/users/*.csv, input/events/*.csv), recreated on every run.
DROP TABLE IF EXISTS events;
DROP TABLE IF EXISTS users;
CREATE TABLE users  (user_id INT NOT NULL PRIMARY KEY, country CHAR(2) NULL);
CREATE TABLE events (event_id BIGINT NOT NULL PRIMARY KEY, user_id INT NOT NULL,
                     url VARCHAR(2000) NOT NULL, at DATETIME NOT NULL);
