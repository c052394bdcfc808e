"""What happens to a lead that the apps above ``leads`` react to (docs/architecture.md).

``leads`` does not import the apps built on it (``baseclients``, ``defeats``, ``funnel``, ``reports``). When one of
its writes concerns them — a deal makes the buyer a base client, a lost customer's visit is a win-back — the lead
service sends one of these signals and the higher app's receiver, connected in its ``AppConfig.ready()``, does its
part.

Every signal is sent INSIDE the writing service's transaction, after the rows it names are written and while the
lead's row lock is held:

- a receiver sees the new rows and may write its own in the same transaction;
- a receiver that raises (a ``ValidationError`` with field messages, a ``PermissionDenied``) rolls the whole write
  back, and the caller gets that error as if the lead service had raised it (API 400/403, a page form error);
- nothing a receiver writes is visible to anyone else before the lead's write commits.

So a receiver must be quick (no network, no e-mail: enqueue with ``transaction.on_commit``) and must not catch the
errors of its own writes. Connect with ``dispatch_uid`` so a second ``ready()`` does not connect twice. Receivers
take ``**kwargs``: a signal may gain arguments.
"""

from django.dispatch import Signal

#: A deal was recorded and the lead is won (``leads.services.deals.deal_record``). Sent with ``sender=Deal`` and:
#:
#: - ``deal``: the new ``leads.models.Deal`` (one order of ``quantity`` units: price, series, order and delivery
#:   dates, the first unit's VIN and plate);
#: - ``lead``: the lead, locked, already saved as won;
#: - ``actor``: the ``User`` who recorded it;
#: - ``units``: the units delivered now, ``[{vin, plate, use}]``, normalised and format-checked by
#:   ``leads.vehicles`` (empty: none delivered yet; the rest come later);
#: - ``listed``: True when they came as a list of vehicles (errors belong on ``vehicles``), False when as the deal's
#:   own VIN and plate (errors on ``vin``).
#:
#: Listeners: ``baseclients`` makes or extends the buyer's base client (one purchase, a vehicle per unit, tier, care
#: plan, the referrer's credit) and refuses a VIN that is already on a base client's card (``ValidationError``).
deal_recorded = Signal()

#: Showroom visits were written (``visit_log``, ``visit_add``, and the Excel import's ``visit_log_many``). Sent with
#: ``sender=Visit`` and:
#:
#: - ``results``: a list of ``leads.services.VisitResult`` — each with ``lead``, ``visit`` and ``is_revisit``
#:   (False: the visit created the lead, a new customer; True: a re-visit of a known lead). One visit logged is a
#:   list of one; the import sends its whole batch in one signal, after its bulk inserts, so a receiver reads what it
#:   needs with one query per batch rather than one per row;
#: - ``actor``: the ``User`` who logged them;
#: - ``store``: the ``Store`` the visits were logged in.
#:
#: Listeners: ``baseclients`` links a new lead whose phone is a base client's in the group to that card (a returning
#: buyer: the lead's deal will be a repeat purchase).
visit_logged = Signal()

#: A customer the dealership had lost came back to the showroom: a re-visit (``visit_log`` finding the phone,
#: ``visit_add``) of a lead that is defeated or awaiting a defeat verdict. Sent with ``sender=Lead``, after the visit
#: row is written, and:
#:
#: - ``lead``: the lead, locked (its status still defeated / defeat pending);
#: - ``actor``: the ``User`` who logged the visit;
#: - ``at``: the visit's arrival time (aware datetime);
#: - ``grade``: the grade the visit form gave, or None;
#: - ``assign_to``: the consultant a manager named on the visit form, or None.
#:
#: Listeners: ``defeats`` wins the customer back from the competitor pool, or closes a pending defeat application as
#: a false defeat; either way the lead is active again. The lead service re-reads the lead afterwards, so receivers
#: save what they change and return nothing.
customer_returned = Signal()
