"""PostgreSQL triggers that make registered evidence and signed records append-only at the database
level: DELETE is refused, and UPDATE may change only the columns a model lists in MUTABLE_FIELDS. Used by
migrations registry.0003 and reviews.0004 (so keep what they call stable)."""

FUNCTION = """
CREATE OR REPLACE FUNCTION docket_refuse_evidence_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    before_row jsonb;
    after_row jsonb;
    mutable text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'docket: DELETE on % is refused; registered evidence and signed records are never removed',
            TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    before_row := to_jsonb(OLD);
    after_row := to_jsonb(NEW);
    IF TG_NARGS > 0 THEN
        FOREACH mutable IN ARRAY TG_ARGV LOOP
            before_row := before_row - mutable;
            after_row := after_row - mutable;
        END LOOP;
    END IF;
    IF before_row IS DISTINCT FROM after_row THEN
        RAISE EXCEPTION 'docket: UPDATE on % is refused; only % may change after insertion', TG_TABLE_NAME,
            CASE WHEN TG_NARGS = 0 THEN 'nothing' ELSE array_to_string(TG_ARGV, ', ') END
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
"""


def trigger_sql(table: str, mutable: list[str]) -> list[str]:
    arguments = ", ".join(f"'{column}'" for column in mutable)
    return [
        f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}",
        f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION docket_refuse_evidence_change({arguments})",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_immutable",
    ]


def install(schema_editor, protected: dict[str, list[str]]) -> None:
    """Creates (or re-creates) the function and one trigger per table with its mutable columns
    (`protected`: table -> columns); nothing on databases other than PostgreSQL."""
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for table, mutable in protected.items():
        for statement in trigger_sql(table, mutable):
            schema_editor.execute(statement)


def remove(schema_editor, tables) -> None:
    """Drops the tables' triggers (the shared function stays for the other app's tables)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in tables:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
