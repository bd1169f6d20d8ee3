"""Generate the user-question benchmark: tables, train.tsv and test.tsv (see README.md here).

    python data/user_questions/generate.py            # rewrites tables/, train.tsv, test.tsv
    python data/user_questions/generate.py --out DIR  # writes them under DIR instead

Everything comes from one fixed seed, so a rerun is byte-identical. Tables are built as clean
pandas DataFrames (true typed values) and then written the way people export them (currency marks,
thousands separators, percentages, several date formats, yes/no flags, blanks). Answers are
computed with pandas on the clean DataFrames; this script never imports nqa.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.util
import io
import json
import math
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 20250611
N_TEST_PER_KIND = 25
N_DEV_PER_KIND = 36
N_TRAIN_PER_KIND = 200


def _load_phrasings():
    spec = importlib.util.spec_from_file_location("_uq_phrasings", HERE / "phrasings.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.PHRASINGS, mod.PHRASING_VARIANT


PHRASINGS, PHRASING_VARIANT = _load_phrasings()
KINDS = list(PHRASINGS)

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


# ---------------------------------------------------------------------------------------------
# Text matching as the reader sees it (a copy of the rule in docs/ops.md, so nqa is not imported)

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def norm(s: str) -> str:
    if not s.isascii():
        s = "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", s.lower()).strip()


def contains(haystack: str, needle: str) -> bool:
    return bool(needle) and f" {needle} " in f" {haystack} "


# ---------------------------------------------------------------------------------------------
# Cell formats: how a clean value is written to the CSV


def fmt_cell(v, fmt: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if fmt == "text":
        return str(v)
    if fmt == "usd":
        return f"${v:,.2f}"
    if fmt == "usd0":
        return f"${v:,.0f}"
    if fmt == "eur":
        return f"€{v:,.2f}"
    if fmt == "eur0":
        return f"€{v:,.0f}"
    if fmt == "thousands":
        return f"{v:,.0f}"
    if fmt == "int":
        return str(int(round(v)))
    if fmt == "f1":
        return f"{v:.1f}"
    if fmt == "f2":
        return f"{v:.2f}"
    if fmt == "pct":
        return f"{v:.1f}%"
    if fmt in ("iso", "us", "long", "short"):
        if fmt == "iso":
            return v.strftime("%Y-%m-%d")
        if fmt == "us":
            return f"{v.month:02d}/{v.day:02d}/{v.year}"
        if fmt == "long":
            return f"{MONTHS[v.month - 1]} {v.day}, {v.year}"
        return f"{v.day} {MONTHS[v.month - 1][:3]} {v.year}"
    flags = {"yesno": ("yes", "no"), "YesNo": ("Yes", "No"), "YN": ("Y", "N"),
             "truefalse": ("true", "false"), "TRUEFALSE": ("TRUE", "FALSE"), "01": ("1", "0")}
    if fmt in flags:
        return flags[fmt][0] if v else flags[fmt][1]
    raise ValueError(fmt)


def fmt_number(x: float) -> str:
    """Integers without decimals, others as the exact double (shortest repr), the way nqa's answer
    values hold them (docs/ops.md); evaluation compares numbers within 1e-6, so a different
    summation order than nqa's does not matter."""
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


# ---------------------------------------------------------------------------------------------
# Tables


@dataclass
class Col:
    header: str
    words: str
    role: str  # name | text | measure | group | date | flag | id
    fmt: str
    add: bool = True  # a measure whose sum means something


@dataclass
class Spec:
    name: str
    split: str
    entities: list[str]
    cols: list[Col]
    df: pd.DataFrame = field(default=None, repr=False)  # clean values
    raw: pd.DataFrame = field(default=None, repr=False)  # cell texts as written
    norms: dict = field(default_factory=dict, repr=False)  # header -> list of normalised cell texts

    def by_role(self, *roles: str) -> list[Col]:
        return [c for c in self.cols if c.role in roles]

    @property
    def name_col(self) -> Col | None:
        names = self.by_role("name")
        return names[0] if names else None


def _dates(r: random.Random, n: int, start: dt.date, end: dt.date, sort: bool = False):
    span = (end - start).days
    out = [start + dt.timedelta(days=r.randrange(span + 1)) for _ in range(n)]
    return sorted(out) if sort else out


def _weighted(r: random.Random, values: list[str], weights: list[float], n: int) -> list[str]:
    return r.choices(values, weights=weights, k=n)


def _blank(r: random.Random, values: list, k: int) -> list:
    values = list(values)
    for i in r.sample(range(len(values)), k):
        values[i] = float("nan") if isinstance(values[i], float) else None
    return values


def _money(r: random.Random, lo: float, hi: float, n: int, cents: bool = True) -> list[float]:
    return [round(r.uniform(lo, hi), 2 if cents else 0) for _ in range(n)]


FIRST = ["Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kara",
         "Liam", "Maya", "Nils", "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera",
         "Will", "Xena", "Yusuf", "Zoe", "Aiko", "Bruno", "Chloe", "Dmitri", "Emma", "Felix", "Gina",
         "Hana", "Ivan", "Julia", "Kofi", "Lena", "Marco", "Nora"]
LAST = ["Adler", "Brooks", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
        "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov", "Quintero", "Rossi", "Silva",
        "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Yilmaz", "Zimmer"]


def _people(r: random.Random, n: int) -> list[str]:
    pairs = [f"{first} {last}" for first in FIRST for last in LAST]
    return r.sample(pairs, n)


def build_tables() -> list[Spec]:
    specs = []

    def rng(name):
        return random.Random(f"{SEED}-{name}")

    # --- train tables ---------------------------------------------------------------------
    r = rng("orders")
    n = 3000
    cities = ["Berlin", "Paris", "Madrid", "Rome", "Vienna", "Lisbon", "Dublin", "Prague"]
    df = pd.DataFrame({
        "Order ID": [f"ORD-{10001 + i}" for i in range(n)],
        "Order Date": _dates(r, n, dt.date(2019, 1, 1), dt.date(2023, 12, 31), sort=True),
        "Customer": r.choices(_people(random.Random(f"{SEED}-cust"), 120), k=n),
        "City": _weighted(r, cities, [30, 22, 14, 10, 9, 7, 5, 3], n),
        "Region": _weighted(r, ["North", "South", "East", "West"], [4, 3, 2, 1], n),
        "Ship Mode": _weighted(r, ["Air", "Ground", "Sea", "Express"], [2, 5, 1, 2], n),
        "Amount": _money(r, 5, 2500, n),
        "Quantity": [float(r.randint(1, 40)) for _ in range(n)],
        "Refunded": [r.random() < 0.08 for _ in range(n)],
    })
    specs.append(Spec("orders", "train", ["orders", "order records"], [
        Col("Order ID", "order id", "name", "text"), Col("Order Date", "order date", "date", "iso"),
        Col("Customer", "customer", "text", "text"), Col("City", "city", "group", "text"),
        Col("Region", "region", "group", "text"), Col("Ship Mode", "ship mode", "group", "text"),
        Col("Amount", "amount", "measure", "usd"), Col("Quantity", "quantity", "measure", "int"),
        Col("Refunded", "refunded", "flag", "yesno")], df))

    r = rng("staff")
    n = 40
    df = pd.DataFrame({
        "Employee": _people(r, n),
        "Department": _weighted(r, ["Sales", "Marketing", "Engineering", "Finance", "Support"], [3, 2, 4, 1, 2], n),
        "Role": _weighted(r, ["Designer", "Developer", "Manager", "Analyst", "Coordinator"], [2, 4, 2, 2, 1], n),
        "Office": _weighted(r, ["Paris", "London", "Austin", "Toronto"], [3, 4, 2, 1], n),
        "Salary": [float(r.randrange(38000, 140000, 500)) for _ in range(n)],
        "Start Date": _dates(r, n, dt.date(2012, 1, 1), dt.date(2024, 6, 30)),
        "Rating": _blank(r, [round(r.uniform(2.5, 5.0), 1) for _ in range(n)], 3),
        "Bonus %": [round(r.uniform(0, 15), 1) for _ in range(n)],
        "Remote": [r.random() < 0.35 for _ in range(n)],
    })
    specs.append(Spec("staff", "train", ["employees", "staff members"], [
        Col("Employee", "employee", "name", "text"), Col("Department", "department", "group", "text"),
        Col("Role", "role", "group", "text"), Col("Office", "office", "group", "text"),
        Col("Salary", "salary", "measure", "usd0"), Col("Start Date", "start date", "date", "us"),
        Col("Rating", "rating", "measure", "f1", add=False),
        Col("Bonus %", "bonus", "measure", "pct", add=False), Col("Remote", "remote", "flag", "YN")], df))

    r = rng("inventory")
    items = ["Hammer", "Hammer Drill", "Wrench", "Wrench Set", "Garden Hose", "Garden Hose Reel",
             "Ladder", "Ladder Extension", "Pliers", "Screwdriver", "Tape Measure", "Spirit Level",
             "Paint Roller", "Paint Brush", "Extension Cord", "Light Bulb", "Circuit Breaker",
             "Pipe Wrench", "Plunger", "Sealant", "Rake", "Shovel", "Wheelbarrow", "Pruning Shears",
             "Lawn Mower", "Leaf Blower", "Drill Bits", "Sandpaper", "Work Gloves", "Safety Goggles",
             "Toolbox", "Stud Finder", "Utility Knife", "Caulk Gun", "Hacksaw", "Chisel", "Clamp",
             "Soldering Iron", "Multimeter", "Wire Stripper", "Hose Nozzle", "Sprinkler"]
    n = len(items)
    cat = {"Garden": {"Garden Hose", "Garden Hose Reel", "Rake", "Shovel", "Wheelbarrow", "Pruning Shears",
                      "Lawn Mower", "Leaf Blower", "Hose Nozzle", "Sprinkler"},
           "Electrical": {"Extension Cord", "Light Bulb", "Circuit Breaker", "Soldering Iron", "Multimeter",
                          "Wire Stripper"},
           "Plumbing": {"Pipe Wrench", "Plunger", "Sealant", "Caulk Gun"}}
    df = pd.DataFrame({
        "SKU": [f"SKU-{101 + i}" for i in range(n)],
        "Item": items,
        "Category": [next((c for c, s in cat.items() if it in s), "Tools") for it in items],
        "Warehouse": _weighted(r, ["Leeds", "Bristol", "Glasgow"], [5, 3, 2], n),
        "Price ($)": _money(r, 3, 450, n),
        "Qty in Stock": [float(r.randint(0, 300)) for _ in range(n)],
        "Weight (kg)": _blank(r, [round(r.uniform(0.1, 35), 2) for _ in range(n)], 2),
        "Last Restocked": _dates(r, n, dt.date(2020, 1, 1), dt.date(2023, 12, 31)),
        "Reorder": [r.random() < 0.3 for _ in range(n)],
    })
    specs.append(Spec("inventory", "train", ["items", "stock items"], [
        Col("SKU", "sku", "text", "text"), Col("Item", "item", "name", "text"),
        Col("Category", "category", "group", "text"), Col("Warehouse", "warehouse", "group", "text"),
        Col("Price ($)", "price", "measure", "f2"), Col("Qty in Stock", "qty in stock", "measure", "int"),
        Col("Weight (kg)", "weight", "measure", "f2"), Col("Last Restocked", "last restocked", "date", "short"),
        Col("Reorder", "flagged for reorder", "flag", "TRUEFALSE")], df))

    r = rng("flights")
    n = 50
    hubs = ["Frankfurt", "Amsterdam", "Chicago", "Singapore", "Dubai", "Toronto", "Madrid", "Seoul"]
    origin = _weighted(r, hubs, [6, 4, 3, 2, 2, 1, 1, 1], n)
    df = pd.DataFrame({
        "Flight": [f"{r.choice(['LH', 'KL', 'UA', 'SQ', 'EK'])}{r.randint(100, 999)}" for _ in range(n)],
        "Origin": origin,
        "Destination": [r.choice([h for h in hubs if h != o]) for o in origin],
        "Airline": _weighted(r, ["Lufthansa", "KLM", "United", "Singapore Airlines", "Emirates"], [4, 3, 3, 1, 2], n),
        "Departure": _dates(r, n, dt.date(2022, 1, 1), dt.date(2024, 12, 31), sort=True),
        "Duration (min)": [float(r.randrange(55, 900, 5)) for _ in range(n)],
        "Distance (km)": [float(r.randrange(300, 12000)) for _ in range(n)],
        "Fare": _money(r, 80, 2400, n),
        "Delayed": [r.random() < 0.3 for _ in range(n)],
    })
    df = df.drop_duplicates("Flight").reset_index(drop=True)
    specs.append(Spec("flights", "train", ["flights"], [
        Col("Flight", "flight", "name", "text"), Col("Origin", "origin", "group", "text"),
        Col("Destination", "destination", "group", "text"), Col("Airline", "airline", "group", "text"),
        Col("Departure", "departure date", "date", "iso"), Col("Duration (min)", "duration", "measure", "int"),
        Col("Distance (km)", "distance", "measure", "thousands"), Col("Fare", "fare", "measure", "eur"),
        Col("Delayed", "delayed", "flag", "truefalse")], df))

    r = rng("expenses")
    descs = ["Team Lunch", "Team Lunch Friday", "Train Ticket", "Train Ticket Return", "Hotel Night",
             "Taxi", "Conference Pass", "Laptop Stand", "Printer Paper", "Software License",
             "Software License Renewal", "Client Dinner", "Parking", "Coffee Beans", "Flight Upgrade",
             "Office Chair", "Monitor Cable", "Courier", "Visa Fee", "Workshop Fee", "Mobile Plan",
             "Web Hosting", "Stationery", "Airport Shuttle", "Book Order", "Desk Lamp", "Cloud Storage",
             "Catering", "Mileage", "Phone Case", "Keyboard", "Headset", "Snacks", "Whiteboard", "Toll Fee"]
    n = len(descs)
    df = pd.DataFrame({
        "Date": _dates(r, n, dt.date(2021, 1, 1), dt.date(2023, 12, 31), sort=True),
        "Description": r.sample(descs, n),
        "Category": _weighted(r, ["Travel", "Meals", "Software", "Office"], [4, 3, 1, 2], n),
        "Employee": _weighted(r, ["Maya Rossi", "Liam Novak", "Grace Ito", "Hugo Weber"], [4, 3, 2, 2], n),
        "Amount": _money(r, 4, 900, n),
        "Payment Method": _weighted(r, ["Card", "Cash", "Transfer"], [5, 2, 2], n),
        "Reimbursed": [r.random() < 0.6 for _ in range(n)],
    })
    specs.append(Spec("expenses", "train", ["expenses", "expense claims"], [
        Col("Date", "date", "date", "long"), Col("Description", "description", "name", "text"),
        Col("Category", "category", "group", "text"), Col("Employee", "employee", "group", "text"),
        Col("Amount", "amount", "measure", "eur"), Col("Payment Method", "payment method", "group", "text"),
        Col("Reimbursed", "reimbursed", "flag", "yesno")], df))

    r = rng("league")
    teams = ["Lions", "Tigers", "Bears", "Eagles", "Sharks", "Wolves", "Falcons", "Hornets", "United",
             "United Reserves", "Rovers", "Rangers", "Panthers", "Dolphins", "Comets", "Bulls"]
    rows = []
    for t in teams:
        w, d = r.randint(3, 22), r.randint(0, 8)
        lost = 30 - w - d
        gf = w * 2 + d + r.randint(0, 15)
        ga = lost * 2 + d + r.randint(0, 15)
        rows.append((t, 30.0, float(w), float(d), float(lost), float(gf), float(ga), float(3 * w + d),
                     r.choice(["North", "South"]), r.choice(["Ana Costa", "Tom Weber", "Kofi Okafor", "Lena Silva"])))
    df = pd.DataFrame(rows, columns=["Team", "Played", "Won", "Drawn", "Lost", "Goals For", "Goals Against",
                                     "Points", "Division", "Coach"])
    df = df.sort_values(["Points", "Won"], ascending=False, kind="mergesort").reset_index(drop=True)
    specs.append(Spec("league", "dev", ["teams", "clubs"], [
        Col("Team", "team", "name", "text"), Col("Played", "played", "measure", "int"),
        Col("Won", "wins", "measure", "int"), Col("Drawn", "draws", "measure", "int"),
        Col("Lost", "losses", "measure", "int"), Col("Goals For", "goals for", "measure", "int"),
        Col("Goals Against", "goals against", "measure", "int"), Col("Points", "points", "measure", "int"),
        Col("Division", "division", "group", "text"), Col("Coach", "coach", "group", "text")], df))

    r = rng("tasks")
    tasks = ["Fix login bug", "Fix login bug on mobile", "Write release notes", "Update pricing page",
             "Migrate database", "Migrate database backups", "Design onboarding flow", "Review pull requests",
             "Set up monitoring", "Plan sprint", "Refactor billing module", "Add dark mode", "Translate docs",
             "Audit permissions", "Renew certificates", "Clean up logs", "Load test API", "Draft roadmap",
             "Interview candidates", "Order new laptops", "Archive old tickets", "Benchmark search",
             "Upgrade libraries", "Fix broken links", "Prepare demo", "Write unit tests", "Tune cache",
             "Improve error messages", "Rotate keys", "Update privacy policy"]
    n = len(tasks)
    df = pd.DataFrame({
        "Task": tasks,
        "Assignee": _weighted(r, ["Priya Shah", "Tom Weber", "Sara Lind", "Omar Haddad", "Jin Park"],
                              [5, 3, 3, 2, 2], n),
        "Status": _weighted(r, ["Open", "In Progress", "Closed", "Blocked"], [3, 3, 4, 1], n),
        "Priority": _weighted(r, ["High", "Medium", "Low"], [2, 3, 2], n),
        "Due Date": _dates(r, n, dt.date(2023, 1, 1), dt.date(2025, 6, 30)),
        "Estimate (h)": [float(r.choice([0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24])) for _ in range(n)],
        "Urgent": [r.random() < 0.25 for _ in range(n)],
    })
    specs.append(Spec("tasks", "train", ["tasks", "tickets"], [
        Col("Task", "task", "name", "text"), Col("Assignee", "assignee", "group", "text"),
        Col("Status", "status", "group", "text"), Col("Priority", "priority", "group", "text"),
        Col("Due Date", "due date", "date", "us"), Col("Estimate (h)", "estimate", "measure", "f1"),
        Col("Urgent", "urgent", "flag", "01")], df))

    r = rng("invoices")
    n = 60
    clients = ["Acme Corp", "Globex", "Initech", "Umbrella Labs", "Stark Industries", "Wayne Enterprises",
               "Hooli", "Vandelay Imports"]
    issue = _dates(r, n, dt.date(2020, 1, 1), dt.date(2023, 12, 31), sort=True)
    df = pd.DataFrame({
        "Invoice #": [f"INV-{1001 + i}" for i in range(n)],
        "Client": _weighted(r, clients, [6, 5, 4, 3, 3, 2, 2, 1], n),
        "Issue Date": issue,
        "Due Date": [d + dt.timedelta(days=r.choice([14, 30, 45, 60])) for d in issue],
        "Amount": _money(r, 150, 24000, n),
        "Tax Rate": [r.choice([0.0, 5.0, 7.5, 10.0, 20.0]) for _ in range(n)],
        "Paid": [r.random() < 0.7 for _ in range(n)],
    })
    specs.append(Spec("invoices", "dev", ["invoices"], [
        Col("Invoice #", "invoice number", "name", "text"), Col("Client", "client", "group", "text"),
        Col("Issue Date", "issue date", "date", "short"), Col("Due Date", "due date", "date", "short"),
        Col("Amount", "amount", "measure", "usd"), Col("Tax Rate", "tax rate", "measure", "pct", add=False),
        Col("Paid", "paid", "flag", "TRUEFALSE")], df))

    r = rng("cars")
    models = [("Civic", "Honda"), ("Civic Type R", "Honda"), ("Accord", "Honda"), ("CR-V", "Honda"),
              ("Corolla", "Toyota"), ("Corolla Cross", "Toyota"), ("Camry", "Toyota"), ("RAV4", "Toyota"),
              ("Prius", "Toyota"), ("Golf", "Volkswagen"), ("Golf GTI", "Volkswagen"), ("Passat", "Volkswagen"),
              ("Tiguan", "Volkswagen"), ("Mustang", "Ford"), ("Mustang Mach-E", "Ford"), ("Focus", "Ford"),
              ("Explorer", "Ford"), ("Model 3", "Tesla"), ("Model Y", "Tesla"), ("Model S Plaid", "Tesla"),
              ("Leaf", "Nissan"), ("Qashqai", "Nissan"), ("Juke", "Nissan"), ("Ioniq 5", "Hyundai"),
              ("Tucson", "Hyundai"), ("Kona", "Hyundai"), ("Outback", "Subaru"), ("Forester", "Subaru"),
              ("Miata", "Mazda"), ("CX-5", "Mazda"), ("Clio", "Renault"), ("Zoe", "Renault"),
              ("Octavia", "Skoda"), ("Fabia", "Skoda"), ("Polestar 2", "Polestar"), ("i3", "BMW"),
              ("X5", "BMW"), ("A4", "Audi"), ("Q5", "Audi"), ("Panda", "Fiat")]
    n = len(models)
    df = pd.DataFrame({
        "Model": [m for m, _ in models],
        "Make": [mk for _, mk in models],
        "Body": _weighted(r, ["Sedan", "SUV", "Hatchback", "Coupe"], [3, 4, 3, 1], n),
        "Fuel": _weighted(r, ["Petrol", "Diesel", "Electric", "Hybrid"], [5, 2, 3, 2], n),
        "Price ($)": [float(r.randrange(14000, 95000, 50)) for _ in range(n)],
        "Horsepower (hp)": [float(r.randrange(70, 1020)) for _ in range(n)],
        "MPG": _blank(r, [round(r.uniform(18, 58), 1) for _ in range(n)], 2),
        "Model Year": [float(r.randint(2015, 2024)) for _ in range(n)],
        "Automatic": [r.random() < 0.7 for _ in range(n)],
    })
    specs.append(Spec("cars", "train", ["cars", "car models"], [
        Col("Model", "model", "name", "text"), Col("Make", "make", "group", "text"),
        Col("Body", "body type", "group", "text"), Col("Fuel", "fuel", "group", "text"),
        Col("Price ($)", "price", "measure", "thousands"), Col("Horsepower (hp)", "horsepower", "measure", "int"),
        Col("MPG", "mpg", "measure", "f1", add=False), Col("Model Year", "model year", "measure", "int", add=False),
        Col("Automatic", "automatic", "flag", "yesno")], df))

    r = rng("gym")
    n = 2500
    df = pd.DataFrame({
        "Member ID": [f"M-{5001 + i}" for i in range(n)],
        "Join Date": _dates(r, n, dt.date(2016, 1, 1), dt.date(2024, 12, 31), sort=True),
        "Plan": _weighted(r, ["Basic", "Premium", "Student", "Family"], [5, 3, 2, 1], n),
        "Club": _weighted(r, ["Downtown", "Riverside", "Uptown", "Harbor"], [4, 3, 2, 1], n),
        "Age": [float(r.randint(16, 78)) for _ in range(n)],
        "Monthly Fee": [r.choice([19.99, 29.99, 39.99, 49.99, 59.99]) for _ in range(n)],
        "Visits per Month": [float(r.randint(0, 25)) for _ in range(n)],
        "Active": [r.random() < 0.72 for _ in range(n)],
    })
    specs.append(Spec("gym_members", "train", ["members", "gym members"], [
        Col("Member ID", "member id", "name", "text"), Col("Join Date", "join date", "date", "long"),
        Col("Plan", "plan", "group", "text"), Col("Club", "club", "group", "text"),
        Col("Age", "age", "measure", "int", add=False), Col("Monthly Fee", "monthly fee", "measure", "eur"),
        Col("Visits per Month", "visits per month", "measure", "int"),
        Col("Active", "active", "flag", "truefalse")], df))

    # --- dev tables (with league and invoices above) ----------------------------------------
    r = rng("shipments")
    n = 1500
    ids = [f"SHP-{30001 + i}" for i in range(n)]
    split = sorted(r.sample(range(1, n, 2), 12))
    for i in split:
        ids[i] = f"{ids[i - 1]}-B"  # the second part of a split consignment
    service = _weighted(r, ["Standard", "Express", "Economy", "Freight"], [6, 3, 2, 1], n)
    packages = [float(r.choice([1, 1, 1, 2, 2, 3, 4, 6, 10])) for _ in range(n)]
    weight = [round(p * r.uniform(0.3, 25) * (8 if s == "Freight" else 1), 1) for p, s in zip(packages, service)]
    rate = {"Standard": 1.6, "Express": 3.9, "Economy": 1.1, "Freight": 0.7}
    df = pd.DataFrame({
        "Shipment ID": ids,
        "Ship Date": _dates(r, n, dt.date(2021, 1, 1), dt.date(2024, 12, 31), sort=True),
        "Carrier": _weighted(r, ["DHL", "UPS", "FedEx", "DB Schenker", "Kuehne Nagel"], [5, 4, 3, 2, 1], n),
        "Service": service,
        "Origin": _weighted(r, ["Rotterdam", "Hamburg", "Antwerp", "Milan", "Lyon"], [5, 4, 3, 2, 1], n),
        "Destination Country": _weighted(r, ["Germany", "France", "Italy", "Spain", "Poland", "Netherlands",
                                             "Sweden", "Austria"], [8, 6, 4, 4, 3, 3, 1, 1], n),
        "Recipient": r.choices(_people(r, 150), k=n),
        "Packages": packages,
        "Weight (kg)": _blank(r, weight, 6),
        "Cost": [round(9.5 + w * rate[s] * r.uniform(0.8, 1.25), 2) for w, s in zip(weight, service)],
        "Transit Days": [float(max(1, {"Express": 1, "Standard": 3, "Economy": 6, "Freight": 8}[s] + r.randint(-1, 4)))
                         for s in service],
        "Late": [r.random() < (0.25 if s == "Economy" else 0.12) for s in service],
    })
    same = ["Ship Date", "Carrier", "Origin", "Destination Country", "Recipient"]
    for i in split:  # sent with its first part
        df.loc[i, same] = df.loc[i - 1, same]
    specs.append(Spec("shipments", "dev", ["shipments", "consignments"], [
        Col("Shipment ID", "shipment id", "name", "text"), Col("Ship Date", "ship date", "date", "iso"),
        Col("Carrier", "carrier", "group", "text"), Col("Service", "service", "group", "text"),
        Col("Origin", "origin", "group", "text"), Col("Destination Country", "destination country", "group", "text"),
        Col("Recipient", "recipient", "text", "text"), Col("Packages", "packages", "measure", "int"),
        Col("Weight (kg)", "weight", "measure", "f1"), Col("Cost", "cost", "measure", "usd"),
        Col("Transit Days", "transit days", "measure", "int", add=False),
        Col("Late", "late", "flag", "truefalse")], df))

    r = rng("hotel_bookings")
    n = 90
    guests = _people(r, n - 4)
    for g in r.sample(guests, 4):  # double surnames: "Maya Rossi" and "Maya Rossi Silva"
        last = r.choice([x for x in LAST if x != g.split()[1]])
        guests.insert(r.randrange(len(guests) + 1), f"{g} {last}")
    room = _weighted(r, ["Double", "Single", "Twin", "Suite", "Family"], [5, 2, 2, 1, 1], n)
    room_rate = {"Double": 120, "Single": 85, "Twin": 115, "Suite": 260, "Family": 175}
    nights = [float(r.choice([1, 1, 2, 2, 2, 3, 3, 4, 5, 7, 10])) for _ in range(n)]
    nightly = [round(room_rate[t] * r.uniform(0.8, 1.4), 2) for t in room]
    df = pd.DataFrame({
        "Guest": guests,
        "Hotel": _weighted(r, ["Harbour View", "Old Town Suites", "Parkside", "Airport Inn"], [4, 3, 2, 1], n),
        "Room Type": room,
        "Channel": _weighted(r, ["Direct", "Booking Site", "Travel Agent", "Corporate"], [3, 5, 1, 2], n),
        "Check-in": _dates(r, n, dt.date(2022, 3, 1), dt.date(2024, 11, 30), sort=True),
        "Nights": nights,
        "Nightly Rate (€)": nightly,
        "Total Price": [round(a * b, 2) for a, b in zip(nights, nightly)],
        "Adults": [float(r.choice([1, 2, 2, 2, 3, 4])) for _ in range(n)],
        "Review Score": _blank(r, [round(r.uniform(5.0, 10.0), 1) for _ in range(n)], 9),
        "Cancelled": [r.random() < 0.15 for _ in range(n)],
    })
    specs.append(Spec("hotel_bookings", "dev", ["bookings", "reservations"], [
        Col("Guest", "guest", "name", "text"), Col("Hotel", "hotel", "group", "text"),
        Col("Room Type", "room type", "group", "text"), Col("Channel", "channel", "group", "text"),
        Col("Check-in", "check-in date", "date", "long"), Col("Nights", "nights", "measure", "int"),
        Col("Nightly Rate (€)", "nightly rate", "measure", "f2", add=False),
        Col("Total Price", "total price", "measure", "eur"), Col("Adults", "adults", "measure", "int"),
        Col("Review Score", "review score", "measure", "f1", add=False),
        Col("Cancelled", "cancelled", "flag", "YN")], df))

    r = rng("courses")
    courses = [("Calculus", "Mathematics"), ("Calculus II", "Mathematics"), ("Linear Algebra", "Mathematics"),
               ("Discrete Structures", "Mathematics"), ("Probability Theory", "Mathematics"),
               ("Real Analysis", "Mathematics"), ("Mechanics", "Physics"), ("Mechanics Lab", "Physics"),
               ("Electromagnetism", "Physics"), ("Quantum Theory", "Physics"), ("Thermodynamics", "Physics"),
               ("Optics", "Physics"), ("Genetics", "Biology"), ("Cell Structure", "Biology"), ("Ecology", "Biology"),
               ("Ecology Fieldwork", "Biology"), ("Microbes and Disease", "Biology"), ("Human Anatomy", "Biology"),
               ("Microeconomics", "Economics"), ("Macroeconomics", "Economics"), ("Econometrics", "Economics"),
               ("Game Theory", "Economics"), ("Public Finance", "Economics"), ("Ancient Rome", "History"),
               ("Ancient Rome Seminar", "History"), ("Medieval Europe", "History"), ("Modern Europe", "History"),
               ("Cold War Studies", "History"), ("Programming Basics", "Computing"), ("Data Structures", "Computing"),
               ("Databases", "Computing"), ("Operating Systems", "Computing"), ("Machine Learning", "Computing"),
               ("Web Development", "Computing")]
    n = len(courses)
    df = pd.DataFrame({
        "course": [c for c, _ in courses],
        "department": [d for _, d in courses],
        "instructor": _weighted(r, ["Helen Park", "Raj Patel", "Sofia Marin", "Ahmed Nasser", "Claire Dupont"],
                                [4, 3, 3, 2, 1], n),
        "level": _weighted(r, ["Introductory", "Intermediate", "Advanced"], [4, 3, 2], n),
        "term": _weighted(r, ["Autumn", "Spring", "Summer"], [5, 4, 1], n),
        "credits": [float(r.choice([3, 4, 5, 5, 6, 10])) for _ in range(n)],
        "enrolled": [float(r.randint(8, 240)) for _ in range(n)],
        "avg_grade": _blank(r, [round(r.uniform(55, 88), 1) for _ in range(n)], 2),
        "pass_rate": [round(r.uniform(60, 99), 1) for _ in range(n)],
        "start_date": _dates(r, n, dt.date(2021, 9, 1), dt.date(2024, 9, 30)),
        "online": [r.random() < 0.3 for _ in range(n)],
    })
    specs.append(Spec("courses", "dev", ["courses", "modules"], [
        Col("course", "course", "name", "text"), Col("department", "department", "group", "text"),
        Col("instructor", "instructor", "group", "text"), Col("level", "level", "group", "text"),
        Col("term", "term", "group", "text"), Col("credits", "credits", "measure", "int"),
        Col("enrolled", "enrolment", "measure", "int"), Col("avg_grade", "grade", "measure", "f1", add=False),
        Col("pass_rate", "pass rate", "measure", "pct", add=False),
        Col("start_date", "start date", "date", "short"), Col("online", "online", "flag", "yesno")], df))

    r = rng("sales_deals")
    deals = ["Northwind Renewal", "Northwind Renewal Plus", "Apex Cloud Migration", "Bluebird Analytics",
             "Bluebird Analytics Expansion", "Cobalt Support Plan", "Delta Freight Pilot", "Evergreen Payroll",
             "Falcon Data Platform", "Granite Security Suite", "Harbor Logistics Pilot", "Ivory Health Portal",
             "Juniper Retail POS", "Keystone ERP", "Keystone ERP Phase 2", "Lumen Energy Dashboard",
             "Marble Bank Onboarding", "Nimbus Telecom Billing", "Orchid Hotels Wifi", "Pioneer Schools Licences",
             "Quartz Media Archive", "Redline Motors Fleet", "Sapphire Insurance Claims", "Titan Steel Sensors",
             "Umbra Games Hosting", "Vertex Labs LIMS", "Willow Care Scheduling", "Xeno Pharma Trials",
             "Yellowtail Foods Forecasting", "Zenith Air Crew App", "Atlas Shipping Tracking", "Beacon Legal Docs",
             "Cedar Homes CRM", "Dune Solar Monitoring", "Echo Radio Ads", "Fjord Seafood Traceability",
             "Glacier Water Billing", "Helix Biotech Storage", "Iris Optics Webshop", "Kite Airlines Loyalty",
             "Lotus Spa Scheduling", "Maple Dairy Supply", "Nova Clinics Telehealth", "Onyx Retail Cameras",
             "Polar Cold Chain", "Quill Publishing Rights", "Summit Gear Ecommerce", "Tundra Mining Safety"]
    n = len(deals)
    stage = _weighted(r, ["Prospecting", "Qualified", "Proposal", "Negotiation", "Closed Won", "Closed Lost"],
                      [3, 4, 3, 2, 3, 2], n)
    prob = {"Prospecting": 10, "Qualified": 25, "Proposal": 50, "Negotiation": 75, "Closed Won": 100, "Closed Lost": 0}
    df = pd.DataFrame({
        "Deal": deals,
        "Owner": _weighted(r, ["Priya Nair", "Tomas Berg", "Lucia Ferrari", "Ken Mori", "Dana Whitfield"],
                           [4, 3, 3, 2, 1], n),
        "Stage": stage,
        "Territory": _weighted(r, ["EMEA", "North America", "APAC", "LATAM"], [4, 4, 2, 1], n),
        "Primary Contact": _people(r, n),
        "Deal Value (USD)": [float(r.randrange(5000, 480000, 500)) for _ in range(n)],
        "Win Probability": [float(prob[s] + (r.choice([-5, 0, 0, 5]) if 0 < prob[s] < 100 else 0)) for s in stage],
        "Seats": _blank(r, [float(r.randint(5, 1200)) for _ in range(n)], 3),
        "Close Date": _dates(r, n, dt.date(2023, 1, 1), dt.date(2025, 12, 31)),
        "Multi-Year": [r.random() < 0.35 for _ in range(n)],
    })
    specs.append(Spec("sales_deals", "dev", ["deals", "opportunities"], [
        Col("Deal", "deal", "name", "text"), Col("Owner", "owner", "group", "text"),
        Col("Stage", "stage", "group", "text"), Col("Territory", "territory", "group", "text"),
        Col("Primary Contact", "primary contact", "text", "text"),
        Col("Deal Value (USD)", "deal value", "measure", "thousands"),
        Col("Win Probability", "win probability", "measure", "pct", add=False),
        Col("Seats", "seats", "measure", "int"), Col("Close Date", "close date", "date", "us"),
        Col("Multi-Year", "multi-year", "flag", "YesNo")], df))

    # --- test tables ----------------------------------------------------------------------
    r = rng("products")
    prods = [("Oak Desk", "Desks"), ("Oak Desk Large", "Desks"), ("Pine Shelf", "Storage"),
             ("Pine Shelf Narrow", "Storage"), ("Walnut Table", "Tables"), ("Walnut Table Round", "Tables"),
             ("Mesh Chair", "Chairs"), ("Mesh Chair Pro", "Chairs"), ("Floor Lamp", "Lighting"),
             ("Desk Lamp", "Lighting"), ("Bookcase", "Storage"), ("Filing Cabinet", "Storage"),
             ("Standing Desk", "Desks"), ("Corner Desk", "Desks"), ("Bar Stool", "Chairs"),
             ("Armchair", "Chairs"), ("Coffee Table", "Tables"), ("Side Table", "Tables"),
             ("Pendant Light", "Lighting"), ("Wall Shelf", "Storage"), ("Shoe Rack", "Storage"),
             ("Dining Bench", "Chairs"), ("Nightstand", "Tables"), ("Lounge Sofa", "Chairs"),
             ("Ottoman", "Chairs"), ("Wardrobe", "Storage"), ("Console Table", "Tables"),
             ("Reading Lamp", "Lighting"), ("Drawer Unit", "Storage"), ("Rocking Chair", "Chairs")]
    n = len(prods)
    df = pd.DataFrame({
        "product": [p for p, _ in prods],
        "category": [c for _, c in prods],
        "supplier": _weighted(r, ["Nordwood", "Casa Bella", "Urban Loft", "Kiefer"], [4, 3, 2, 1], n),
        "unit_price": _money(r, 19, 1200, n),
        "units_sold": [float(r.randint(0, 900)) for _ in range(n)],
        "rating": _blank(r, [round(r.uniform(2.8, 5.0), 1) for _ in range(n)], 2),
        "launch_date": _dates(r, n, dt.date(2017, 1, 1), dt.date(2024, 10, 31)),
        "in_stock": [r.random() < 0.7 for _ in range(n)],
    })
    specs.append(Spec("products", "test", ["products", "furniture items"], [
        Col("product", "product", "name", "text"), Col("category", "category", "group", "text"),
        Col("supplier", "supplier", "group", "text"), Col("unit_price", "unit price", "measure", "f2"),
        Col("units_sold", "units sold", "measure", "int"), Col("rating", "rating", "measure", "f1", add=False),
        Col("launch_date", "launch date", "date", "iso"), Col("in_stock", "in stock", "flag", "YN")], df))

    r = rng("customers")
    companies = ["Blue Harbor", "Blue Harbor Group", "Northwind", "Contoso", "Fabrikam", "Tailspin Toys",
                 "Litware", "Proseware", "Adatum", "Woodgrove Bank", "Lucerne Publishing", "Margie Travel",
                 "Trey Research", "Coho Winery", "Alpine Ski House", "Wingtip Toys", "Fourth Coffee",
                 "Humongous Insurance", "Wide World Importers", "Relecloud", "Bellows College",
                 "Graphic Design Institute", "School of Fine Art", "Southridge Video", "City Power",
                 "Consolidated Messenger", "Datum Corporation", "Lamna Healthcare", "VanArsdel",
                 "Best For You Organics", "Nod Publishers", "Olympia Bikes", "Pinecrest Farms",
                 "Quillon Legal", "Redwood Dental", "Sunrise Bakery", "Tidewater Marine",
                 "Orbit Logistics", "Orbit Logistics East", "Zephyr Studios"]
    n = len(companies)
    df = pd.DataFrame({
        "Customer": companies,
        "Contact": _people(r, n),
        "City": _weighted(r, ["Chicago", "Denver", "Seattle", "Boston", "Atlanta", "Phoenix"], [5, 3, 3, 2, 2, 1], n),
        "Segment": _weighted(r, ["Enterprise", "SMB", "Startup"], [2, 4, 3], n),
        "Account Manager": _weighted(r, ["Rita Moreno", "Alan Brooks", "Mei Chen"], [4, 3, 2], n),
        "Annual Revenue": [float(r.randrange(20000, 2500000, 1000)) for _ in range(n)],
        "NPS": _blank(r, [float(r.randint(-20, 90)) for _ in range(n)], 3),
        "Signup Date": _dates(r, n, dt.date(2015, 1, 1), dt.date(2024, 9, 30)),
        "Churned": [r.random() < 0.2 for _ in range(n)],
    })
    specs.append(Spec("customers", "test", ["customers", "accounts"], [
        Col("Customer", "customer", "name", "text"), Col("Contact", "contact", "text", "text"),
        Col("City", "city", "group", "text"), Col("Segment", "segment", "group", "text"),
        Col("Account Manager", "account manager", "group", "text"),
        Col("Annual Revenue", "annual revenue", "measure", "eur0"), Col("NPS", "nps", "measure", "int", add=False),
        Col("Signup Date", "signup date", "date", "us"), Col("Churned", "churned", "flag", "01")], df))

    r = rng("listings")
    streets = ["Elm Street", "Maple Avenue", "Cedar Lane", "Birch Road", "Willow Way", "Harbor View",
               "Hillcrest Drive", "Lakeside Court", "Sunset Boulevard", "Park Place", "Orchard Row",
               "Meadow Close", "River Walk", "Station Road", "Chapel Hill"]
    addrs = sorted({f"{r.randint(2, 240)} {r.choice(streets)}" for _ in range(60)})[:45]
    addrs = r.sample(addrs, len(addrs))
    n = len(addrs)
    df = pd.DataFrame({
        "Address": addrs,
        "Neighborhood": _weighted(r, ["Old Town", "Riverside", "Hillcrest", "Eastgate", "Westfield"],
                                  [4, 3, 2, 2, 1], n),
        "Type": _weighted(r, ["House", "Condo", "Townhouse"], [4, 3, 2], n),
        "Bedrooms": [float(r.randint(1, 6)) for _ in range(n)],
        "Price": [float(r.randrange(180000, 1400000, 1000)) for _ in range(n)],
        "Size (sq ft)": [float(r.randrange(550, 4800, 10)) for _ in range(n)],
        "Listed On": _dates(r, n, dt.date(2021, 1, 1), dt.date(2024, 12, 31)),
        "Sold": [r.random() < 0.45 for _ in range(n)],
    })
    specs.append(Spec("listings", "test", ["listings", "homes"], [
        Col("Address", "address", "name", "text"), Col("Neighborhood", "neighborhood", "group", "text"),
        Col("Type", "type", "group", "text"), Col("Bedrooms", "bedrooms", "measure", "int"),
        Col("Price", "price", "measure", "usd0"), Col("Size (sq ft)", "size", "measure", "thousands"),
        Col("Listed On", "listing date", "date", "long"), Col("Sold", "sold", "flag", "YesNo")], df))

    r = rng("penguins")
    n = 2000
    species = _weighted(r, ["Adelie", "Gentoo", "Chinstrap"], [44, 36, 20], n)
    base = {"Adelie": (38.8, 18.3, 190, 3700), "Gentoo": (47.5, 15.0, 217, 5076), "Chinstrap": (48.8, 18.4, 196, 3733)}
    island = [{"Adelie": r.choice(["Torgersen", "Biscoe", "Dream"]), "Gentoo": "Biscoe", "Chinstrap": "Dream"}[s]
              for s in species]
    df = pd.DataFrame({
        "individual_id": [f"N{1 + i // 2}A{1 + i % 2}" for i in range(n)],
        "species": species,
        "island": island,
        "bill_length_mm": _blank(r, [round(r.gauss(base[s][0], 2.8), 1) for s in species], 12),
        "bill_depth_mm": [round(r.gauss(base[s][1], 1.0), 1) for s in species],
        "flipper_length_mm": [float(round(r.gauss(base[s][2], 6))) for s in species],
        "body_mass_g": _blank(r, [float(round(r.gauss(base[s][3], 450) / 25) * 25) for s in species], 10),
        "sex": _weighted(r, ["Male", "Female"], [51, 49], n),
        "date_egg": _dates(r, n, dt.date(2007, 11, 1), dt.date(2009, 12, 15)),
        "banded": [r.random() < 0.4 for _ in range(n)],
    })
    specs.append(Spec("penguins", "test", ["penguins", "birds"], [
        Col("individual_id", "individual id", "name", "text"), Col("species", "species", "group", "text"),
        Col("island", "island", "group", "text"), Col("bill_length_mm", "bill length", "measure", "f1", add=False),
        Col("bill_depth_mm", "bill depth", "measure", "f1", add=False),
        Col("flipper_length_mm", "flipper length", "measure", "int", add=False),
        Col("body_mass_g", "body mass", "measure", "int"), Col("sex", "sex", "group", "text"),
        Col("date_egg", "egg date", "date", "iso"), Col("banded", "banded", "flag", "yesno")], df))

    r = rng("tips")
    n = 80
    total = [round(r.uniform(3, 50), 2) for _ in range(n)]
    df = pd.DataFrame({
        "total_bill": total,
        "tip": [round(max(1.0, t * r.uniform(0.08, 0.25)), 2) for t in total],
        "sex": _weighted(r, ["Male", "Female"], [3, 2], n),
        "smoker": [r.random() < 0.38 for _ in range(n)],
        "day": _weighted(r, ["Thur", "Fri", "Sat", "Sun"], [3, 1, 4, 4], n),
        "time": _weighted(r, ["Lunch", "Dinner"], [1, 3], n),
        "size": [float(r.choice([1, 2, 2, 2, 3, 4, 4, 5, 6])) for _ in range(n)],
    })
    specs.append(Spec("tips", "test", ["bills", "receipts"], [
        Col("total_bill", "total bill", "measure", "f2"), Col("tip", "tip", "measure", "f2"),
        Col("sex", "sex", "group", "text"), Col("smoker", "smoker", "flag", "YesNo"),
        Col("day", "day", "group", "text"), Col("time", "time", "group", "text"),
        Col("size", "party size", "measure", "int")], df))

    r = rng("projects")
    projects = ["Website Redesign", "Website Redesign Phase 2", "Mobile App", "Data Warehouse",
                "CRM Rollout", "Brand Refresh", "Office Move", "Security Audit", "Payroll Upgrade",
                "Customer Portal", "Customer Portal Beta", "Chatbot Pilot", "ERP Integration",
                "Analytics Dashboard", "Supplier Onboarding", "Cloud Migration", "Intranet Revamp",
                "Training Program", "Warehouse Robots", "Loyalty Scheme", "Pricing Study",
                "Market Entry Spain", "Accessibility Review", "Helpdesk Revamp", "Green Energy Switch",
                "Fleet Tracking", "Podcast Series", "Annual Report", "Partner Summit", "Sales Academy"]
    n = len(projects)
    budget = [float(r.randrange(5000, 450000, 500)) for _ in range(n)]
    df = pd.DataFrame({
        "Project": projects,
        "Client": _weighted(r, ["Acme Corp", "Globex", "Initech", "Hooli"], [4, 3, 2, 1], n),
        "Manager": _weighted(r, ["Nadia Karimi", "Paul Jensen", "Lucy Tran", "Omar Haddad"], [4, 3, 2, 2], n),
        "Status": _weighted(r, ["Planned", "Active", "Completed", "On Hold"], [2, 4, 3, 1], n),
        "Start Date": _dates(r, n, dt.date(2018, 1, 1), dt.date(2024, 12, 31)),
        "Budget (€)": budget,
        "Spent %": [round(r.uniform(0, 120), 1) for _ in range(n)],
        "Team Size": [float(r.randint(2, 25)) for _ in range(n)],
        "Billable": [r.random() < 0.6 for _ in range(n)],
    })
    specs.append(Spec("projects", "test", ["projects", "contracts"], [
        Col("Project", "project", "name", "text"), Col("Client", "client", "group", "text"),
        Col("Manager", "manager", "group", "text"), Col("Status", "status", "group", "text"),
        Col("Start Date", "start date", "date", "long"), Col("Budget (€)", "budget", "measure", "thousands"),
        Col("Spent %", "percent spent", "measure", "pct", add=False), Col("Team Size", "team size", "measure", "int"),
        Col("Billable", "billable", "flag", "TRUEFALSE")], df))

    for s in specs:
        s.df = s.df[[c.header for c in s.cols]]
        s.raw = pd.DataFrame({c.header: [fmt_cell(v, c.fmt) for v in s.df[c.header]] for c in s.cols})
        s.norms = {c.header: [norm(x) for x in s.raw[c.header]] for c in s.cols}
    return specs


def table_csv(spec: Spec) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.header for c in spec.cols])
    w.writerows(spec.raw.itertuples(index=False, name=None))
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Questions


def _name_subs(spec: Spec, col: Col) -> np.ndarray:
    """For each row, how many cells of the name column are token runs of its name (itself included)."""
    key = ("subs", spec.name, col.header)
    if key not in _CACHE:
        norms = spec.norms[col.header]
        cnt = Counter(norms)
        out = []
        for u in norms:
            toks = u.split()
            runs = {" ".join(toks[a:b]) for a in range(len(toks)) for b in range(a + 1, len(toks) + 1)}
            out.append(sum(cnt[x] for x in runs))
        _CACHE[key] = np.array(out)
    return _CACHE[key]


def _only_in(spec: Spec, col: Col, value: str) -> bool:
    """Whether no cell outside `col` holds `value` as a token run."""
    return not any(_match_mask(spec, c, value).any() for c in spec.cols if c.header != col.header)


class Skip(Exception):
    pass


def _need(cond) -> None:
    if not cond:
        raise Skip


_CACHE: dict = {}


def _match_mask(spec: Spec, col: Col, value: str) -> np.ndarray:
    key = ("match", spec.name, col.header, norm(value))
    if key not in _CACHE:
        v = norm(value)
        _CACHE[key] = np.array([contains(t, v) for t in spec.norms[col.header]])
    return _CACHE[key]


def _eq_mask(spec: Spec, col: Col, value: str) -> np.ndarray:
    """Rows equal to `value`, which must also be exactly the rows a token match selects."""
    key = ("eq", spec.name, col.header, value)
    if key not in _CACHE:
        mask = (spec.df[col.header] == value).to_numpy()
        ok = mask.any() and (mask == _match_mask(spec, col, value)).all()
        _CACHE[key] = mask if ok else None
    _need(_CACHE[key] is not None)
    return _CACHE[key]


def _name_hits(spec: Spec, col: Col) -> np.ndarray:
    """For each row, how many cells of the name column contain its name as a token run."""
    key = ("hits", spec.name, col.header)
    if key not in _CACHE:
        norms = spec.norms[col.header]
        runs: Counter[str] = Counter()  # token run -> number of cells holding it
        for u in norms:
            toks = u.split()
            runs.update({" ".join(toks[a:b]) for a in range(len(toks)) for b in range(a + 1, len(toks) + 1)})
        _CACHE[key] = np.array([runs[t] for t in norms])
    return _CACHE[key]


def _step(op, col: Col | None = None, value=None) -> dict:
    d = {"op": op}
    if col is not None:
        d["column"] = col.header
    if value is not None:
        d["value"] = value
    return d


def _num_value(x: float):
    return int(x) if float(x).is_integer() else float(x)


def _unique_extreme(values: pd.Series, variant: str) -> int:
    v = values.dropna()
    _need(len(v) > 0)
    best = v.max() if variant == "max" else v.min()
    hits = v.index[v == best]
    _need(len(hits) == 1)
    return hits[0]


FAKE_NAMES = ["chainsaw", "submarine", "zeppelin", "trombone", "kangaroo", "volcano", "saxophone",
              "lighthouse", "hovercraft", "igloo", "harpoon", "accordion", "telescope", "snowmobile",
              "catapult", "bagpipes", "canoe paddle", "pogo stick"]
FAKE_GROUPS = ["Atlantis", "Gotham", "Narnia", "Mordor", "Wakanda", "Elbonia", "Neverland", "Camelot",
               "Lilliput", "Shangri-La"]


class Gen:
    def __init__(self, spec: Spec, r: random.Random, lower: bool):
        self.s, self.r, self.lower = spec, r, lower
        self.slots = {"entity": r.choice(spec.entities)}
        self.filled: dict[str, tuple] = {}  # slot -> (column, cell value) for the cell values a question names
        self.df = spec.df

    def case(self, text: str) -> str:
        return text.lower() if self.lower else text

    def pick(self, role: str, pred=None) -> Col:
        cols = [c for c in self.s.by_role(role) if pred is None or pred(c)]
        _need(cols)
        return self.r.choice(cols)

    def measure(self, additive=False) -> Col:
        c = self.pick("measure", (lambda c: c.add) if additive else None)
        self.slots["measure"] = c.words
        return c

    def group(self, slot="group", exclude=None) -> tuple[Col, str, np.ndarray]:
        c = self.pick("group", lambda c: c.header != exclude)
        value = self.r.choice(sorted(set(self.df[c.header])))
        mask = _eq_mask(self.s, c, value)
        self.filled[slot] = (c, value)
        self.slots[f"{slot}_col"] = c.words
        self.slots[slot] = self.case(value)
        return c, self.case(value), mask

    def name_col(self) -> Col:
        c = self.s.name_col
        _need(c is not None)
        assert c is not None
        self.slots["name_col"] = c.words
        return c

    def unique_name(self, slot="name") -> tuple[Col, int, str]:
        """A row whose name no other cell of the name column contains (a token match picks it alone)."""
        c = self.name_col()
        i = self.r.randrange(len(self.df))
        value = self.df[c.header].iloc[i]
        _need(_name_hits(self.s, c)[i] == 1)
        self.filled[slot] = (c, value)
        self.slots[slot] = self.case(value)
        return c, i, self.case(value)

    def raw(self, col: Col, i: int) -> str:
        return self.s.raw[col.header].iloc[i]

    # one method per kind: returns (program steps, answer items)

    def lookup(self, variant):
        c, i, v = self.unique_name()
        col = self.r.choice([x for x in self.s.cols if x.role not in ("name", "flag")])
        self.slots["col"] = col.words
        ans = self.raw(col, i)
        _need(ans != "")
        return [_step("filter_eq", c, v), _step("print", col)], [ans]

    def lookup_prefix(self, variant):
        c = self.name_col()
        names = list(self.df[c.header])
        counts = Counter(names)
        prefixed = [i for i, h in enumerate(_name_hits(self.s, c)) if h > 1 and counts[names[i]] == 1]
        _need(prefixed)
        i = self.r.choice(prefixed)
        v = self.case(names[i])
        self.filled["name"] = (c, names[i])
        self.slots["name"] = v
        col = self.r.choice([x for x in self.s.cols if x.role not in ("name", "flag")])
        self.slots["col"] = col.words
        ans = self.raw(col, i)
        _need(ans != "")
        return [_step("filter_eq", c, v), _step("print", col)], [ans]

    def count_all(self, variant):
        return [_step("count")], [fmt_number(len(self.df))]

    def count_1(self, variant):
        c, v, mask = self.group()
        return [_step("filter_eq", c, v), _step("count")], [fmt_number(mask.sum())]

    def count_2(self, variant):
        c1, v1, m1 = self.group()
        c2, v2, m2 = self.group("group2", exclude=c1.header)
        n = int((m1 & m2).sum())
        _need(n > 0 or self.r.random() < 0.15)
        return [_step("filter_eq", c1, v1), _step("filter_eq", c2, v2), _step("count")], [fmt_number(n)]

    def sum_all(self, variant):
        m = self.measure(additive=True)
        return [_step("sum", m)], [fmt_number(self.df[m.header].sum())]

    def sum_where(self, variant):
        m = self.measure(additive=True)
        c, v, mask = self.group()
        vals = self.df.loc[mask, m.header].dropna()
        _need(len(vals))
        return [_step("filter_eq", c, v), _step("sum", m)], [fmt_number(vals.sum())]

    def avg_all(self, variant):
        m = self.measure()
        return [_step("avg", m)], [fmt_number(self.df[m.header].mean())]

    def avg_where(self, variant):
        m = self.measure()
        c, v, mask = self.group()
        vals = self.df.loc[mask, m.header].dropna()
        _need(len(vals) >= 2)
        return [_step("filter_eq", c, v), _step("avg", m)], [fmt_number(vals.mean())]

    def max_min(self, variant):
        m = self.measure()
        vals = self.df[m.header]
        return [_step(variant, m)], [fmt_number(vals.max() if variant == "max" else vals.min())]

    def max_min_where(self, variant):
        m = self.measure()
        c, v, mask = self.group()
        vals = self.df.loc[mask, m.header].dropna()
        _need(len(vals) >= 2)
        return ([_step("filter_eq", c, v), _step(variant, m)],
                [fmt_number(vals.max() if variant == "max" else vals.min())])

    def count_distinct(self, variant):
        c = self.pick("group")
        self.slots["group_col"] = c.words
        return [_step("count_distinct", c)], [fmt_number(self.df[c.header].nunique())]

    def share(self, variant):
        c, v, mask = self.group()
        return [_step("filter_eq", c, v), _step("share")], [fmt_number(100 * mask.sum() / len(self.df))]

    def argmax(self, variant):
        n = self.name_col()
        m = self.measure()
        i = _unique_extreme(self.df[m.header], variant)
        op = "argmax" if variant == "max" else "argmin"
        return [_step(op, m), _step("print", n)], [self.raw(n, i)]

    def argmax_group(self, variant):
        n = self.name_col()
        m = self.measure()
        c, v, mask = self.group()
        vals = self.df.loc[mask, m.header]
        _need(vals.notna().sum() >= 2)
        i = _unique_extreme(vals, variant)
        op = "argmax" if variant == "max" else "argmin"
        return [_step("filter_eq", c, v), _step(op, m), _step("print", n)], [self.raw(n, i)]

    def most_common(self, variant):
        c = self.pick("group")
        self.slots["group_col"] = c.words
        counts = self.df[c.header].value_counts()
        _need(len(counts) >= 2 and counts.iloc[0] > counts.iloc[1])
        return [_step("mfe", c), _step("print", c)], [counts.index[0]]

    def first_last(self, variant):
        n = self.name_col()
        i = 0 if variant == "first" else len(self.df) - 1
        return [_step(variant), _step("print", n)], [self.raw(n, i)]

    def next_prev(self, variant):
        c, i, v = self.unique_name()
        j = i + 1 if variant == "next" else i - 1
        _need(0 <= j < len(self.df))
        op = "next" if variant == "next" else "previous"
        return [_step("filter_eq", c, v), _step(op), _step("print", c)], [self.raw(c, j)]

    def difference(self, variant):
        m = self.measure()
        c, i, v = self.unique_name()
        c, j, v2 = self.unique_name("name2")
        _need(i != j and _name_subs(self.s, c)[i] == 1 and _name_subs(self.s, c)[j] == 1)
        _need(not contains(norm(v), norm(v2)) and not contains(norm(v2), norm(v)))
        a, b = self.df[m.header].iloc[i], self.df[m.header].iloc[j]
        _need(not (math.isnan(a) or math.isnan(b)) and a != b)
        return [_step("filter_any", c), _step("difference", m)], [fmt_number(abs(a - b))]

    def compare_number(self, variant):
        m = self.measure()
        vals = self.df[m.header].dropna()
        if variant in ("ge", "le") and self.r.random() < 0.5:
            x = float(self.r.choice(sorted(set(vals))))
        else:
            x = float(vals.quantile(self.r.uniform(0.15, 0.85)))
            mag = 10 ** max(0, math.floor(math.log10(abs(x))) - 1) if x else 1
            x = round(x / mag) * mag
        op = {"gt": vals > x, "lt": vals < x, "ge": vals >= x, "le": vals <= x}[variant]
        number = fmt_number(x)
        self.slots["number"] = number
        return [_step(f"filter_{variant}", m, _num_value(x)), _step("count")], [fmt_number(op.sum())]

    def _date(self):
        c = self.pick("date")
        self.slots["date_col"] = c.words
        dates = self.df[c.header]
        return c, dates

    def date_year(self, variant):
        c, dates = self._date()
        years = np.array([d.year for d in dates])
        lo, hi = years.min(), years.max()
        y = self.r.randint(lo + (variant == "lt"), hi - (variant == "gt"))
        n = {"gt": years > y, "lt": years < y, "eq": years == y}[variant].sum()
        self.slots["year"] = str(y)
        op = {"gt": "filter_gt", "lt": "filter_lt", "eq": "filter_eq"}[variant]
        return [_step(op, c, int(y)), _step("count")], [fmt_number(n)]

    def date_month(self, variant):
        c, dates = self._date()
        month = self.r.randint(1, 12)
        n = sum(d.month == month for d in dates)
        _need(n > 0)
        word = self.case(MONTHS[month - 1])
        self.slots["month"] = word
        return [_step("filter_eq", c, word), _step("count")], [fmt_number(n)]

    def flag(self, variant):
        c = self.pick("flag")
        self.slots["flag"] = c.words
        vals = self.df[c.header].astype(bool)
        n = vals.sum() if variant == "true" else (~vals).sum()
        op = "filter_true" if variant == "true" else "filter_false"
        return [_step(op, c), _step("count")], [fmt_number(n)]

    def unanswerable(self, variant):
        key = ("absent", self.s.name)
        if key not in _CACHE:
            all_norms = {t for col in self.s.cols for t in self.s.norms[col.header]}
            all_norms |= {norm(c.header) for c in self.s.cols}
            _CACHE[key] = [[x for x in fakes if not any(contains(t, norm(x)) for t in all_norms)]
                           for fakes in (FAKE_NAMES, FAKE_GROUPS)]
        names, groups = _CACHE[key]
        name = self.r.choice(names)
        grp = self.r.choice(groups)
        self.slots["name"] = self.case(name)
        self.slots["group"] = self.case(grp)
        self.slots["col"] = self.r.choice([c for c in self.s.cols if c.role not in ("name", "flag")]).words
        self.slots["group_col"] = self.pick("group").words
        self.measure()
        return None, []


def _needs(template: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", template))


def _escape(item: str) -> str:
    return item.replace("\\", "\\\\").replace("\n", "\\n").replace("|", "\\|")


def generate_questions(specs: list[Spec]) -> dict[str, list[dict]]:
    _CACHE.clear()
    out = {}
    # dev: tables never trained on, in phrasings of its own that training never sees, so that
    # calibration and the unsure threshold meet what the test part (unseen tables, unseen
    # phrasings) and a new user meet. One random stream per split.
    for n, (split, target) in enumerate((("train", N_TRAIN_PER_KIND), ("dev", N_DEV_PER_KIND),
                                         ("test", N_TEST_PER_KIND))):
        r = random.Random(SEED * 10 + n)
        tables = [s for s in specs if s.split == split]
        rows = []
        for kind in KINDS:
            phr = [(pid, t) for pid, sp, t in PHRASINGS[kind] if sp == split]
            seen = set()
            got = misses = 0
            while got < target and misses < 1500:  # stop when the kind's questions run out
                misses += 1
                spec = r.choice(tables)
                pid, template = r.choice(phr)
                g = Gen(spec, r, lower=r.random() < 0.8)
                try:
                    program, answer = getattr(g, kind)(PHRASING_VARIANT[pid])
                    needs = _needs(template)
                    _need(not needs - set(g.slots))
                    # A value named without its column must not occur in another column.
                    for slot, (col, value) in g.filled.items():
                        if slot in needs and f"{slot}_col" not in needs:
                            _need(_only_in(spec, col, value))
                except Skip:
                    continue
                utt = template.format(**g.slots)
                assert "\t" not in utt and "\n" not in utt
                key = (spec.name, utt)
                if key in seen:
                    continue
                seen.add(key)
                got += 1
                misses = 0
                rows.append({
                    "utterance": utt,
                    "context": f"tables/{spec.name}.csv",
                    "targetValue": "|".join(_escape(a) for a in answer),
                    "kind": kind,
                    "phrasing": pid,
                    "answerable": "0" if program is None else "1",
                    "program": "" if program is None else json.dumps(program, ensure_ascii=False),
                })
        for i, row in enumerate(rows):
            row["id"] = f"uq-{split}-{i:05d}"
        out[split] = rows
    return out


COLUMNS = ["id", "utterance", "context", "targetValue", "kind", "phrasing", "answerable", "program"]


def tsv_text(rows: list[dict]) -> str:
    lines = ["\t".join(COLUMNS)]
    for row in rows:
        assert all("\t" not in row[c] and "\n" not in row[c] for c in COLUMNS)
        lines.append("\t".join(row[c] for c in COLUMNS))
    return "\n".join(lines) + "\n"


def counts_table(questions: dict[str, list[dict]]) -> str:
    lines = ["| kind | train | dev | test |", "|---|---|---|---|"]
    for kind in KINDS:
        n = [sum(q["kind"] == kind for q in questions[s]) for s in ("train", "dev", "test")]
        lines.append(f"| {kind} | {n[0]} | {n[1]} | {n[2]} |")
    lines.append(f"| **all** | {len(questions['train'])} | {len(questions['dev'])} | {len(questions['test'])} |")
    return "\n".join(lines)


def build() -> tuple[dict[str, str], list[Spec], dict[str, list[dict]]]:
    """Every file of the benchmark (relative path -> text), the tables' specs and the questions by split."""
    specs = build_tables()
    files = {f"tables/{s.name}.csv": table_csv(s) for s in specs}
    questions = generate_questions(specs)
    files["train.tsv"] = tsv_text(questions["train"])
    files["dev.tsv"] = tsv_text(questions["dev"])
    files["test.tsv"] = tsv_text(questions["test"])
    return files, specs, questions


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE), help="folder to write into (default: this folder)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    files, specs, questions = build()
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    print("tables:")
    for s in specs:
        print(f"  {s.split:5s} {s.name:14s} {len(s.df):5d} rows x {len(s.cols)} columns")
    print(counts_table(questions))


if __name__ == "__main__":
    main()
