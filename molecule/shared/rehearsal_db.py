"""How the rehearsal's helper scripts reach the staging sandbox: one connection as the app user."""

import argparse
from pathlib import Path

import psycopg2
import pymysql


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", required=True, choices=["postgresql", "mysql"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", default="chatbot")
    parser.add_argument("--user", default="chatbot")
    # A file, never the command line: the password stays out of `ps`.
    parser.add_argument("--password-file", type=Path, required=True)


def connect(args: argparse.Namespace):
    """An autocommit connection, as the app's writers use."""
    password = args.password_file.read_text().strip()
    if args.engine == "postgresql":
        conn = psycopg2.connect(host=args.host, port=args.port, dbname=args.database, user=args.user, password=password,
                                connect_timeout=10)
        conn.autocommit = True
        return conn
    return pymysql.connect(host=args.host, port=args.port, database=args.database, user=args.user, password=password,
                           connect_timeout=10, autocommit=True)
