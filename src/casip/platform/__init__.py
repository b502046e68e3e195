"""The consortium platform: a web app and REST API over the CASIP capabilities.

Members (competing companies), research institutes and government sponsors share designs,
simulation and lifetime results and cycler test data. Every item has an owner organisation and
a visibility (private, consortium, public); one module, :mod:`casip.platform.access`, decides
every read and write. Sponsors see aggregates only.

Start it with ``casip serve`` (SQLite in a local folder, seeded with the reference library and
a demo consortium); ``--database postgresql+psycopg://...`` switches to PostgreSQL. See
``docs/platform-operator.md`` and ``docs/platform-user.md``.
"""
