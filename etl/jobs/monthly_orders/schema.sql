-- Input tables of the monthly orders report. Each is loaded from
-- s3://$DATA_BUCKET/$INPUT_PREFIX<table>/*.csv[.gz] (header row; any subset of the columns).
-- Recreated on every run, so a rerun against the same database starts clean.

DROP TABLE IF EXISTS orders;
DROP TABLE IF EXISTS products;
DROP TABLE IF EXISTS customers;

CREATE TABLE customers (
  customer_id INT NOT NULL PRIMARY KEY,
  name        VARCHAR(200) NOT NULL,
  email       VARCHAR(320) NULL,
  country     CHAR(2) NULL,
  created_at  DATETIME NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE products (
  product_id INT NOT NULL PRIMARY KEY,
  name       VARCHAR(200) NOT NULL,
  category   VARCHAR(100) NOT NULL,
  list_price DECIMAL(10, 2) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE orders (
  order_id    BIGINT NOT NULL PRIMARY KEY,
  customer_id INT NOT NULL,
  product_id  INT NOT NULL,
  quantity    INT NOT NULL,
  unit_price  DECIMAL(10, 2) NOT NULL,
  status      VARCHAR(20) NOT NULL,
  ordered_at  DATETIME NOT NULL,
  KEY orders_by_time (ordered_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
