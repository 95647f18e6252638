-- A count with its noun in the right number, for the one-line results of the
-- jobs and the success metrics' notes: "1 day", "2 days", "0 days". English
-- plurals of the nouns we use are regular enough to pass both forms.
CREATE OR REPLACE FUNCTION wheels.plural(n bigint, one text, many text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT n || ' ' || CASE WHEN n = 1 THEN one ELSE many END
$$;
