# HQ: the header, signing in, merchants, accounts, secrets shown once.

hq-brand = HQ · Loyalty
hq-sections = Sections
hq-all-merchants = All merchants
hq-sign-out = Sign out
nav-stats = Statistics
nav-analytics = Analytics
nav-setup = Setup
nav-campaigns = Campaigns
nav-customers = Support
nav-people = People
nav-audit = Audit trail
nav-reviews = Reviews
nav-referrals = Referrals
nav-store = Store no. { $store }

role-owner = Owner
role-marketer = Marketer
role-analyst = Analyst
role-store-manager = Store manager
role-support = Support

login-title = Sign in
login-heading = Sign in to HQ
login-email = E-mail
login-password = Password
login-token = Or the admin token
login-submit = Sign in
login-error-missing = Give your address and password.
login-error-wrong = Wrong address or password.
login-error-token = Wrong admin token.

merchants-title = Merchants
merchants-none = No merchants yet.
merchants-new = New merchant
merchants-currency-iso = Currency (ISO 4217)
merchants-create = Create
merchant-error-name = Give a name.
merchant-error-currency = The currency is three Latin letters, for example RUB.
col-number = No.
col-name = Name
col-currency = Currency
col-pages = Pages

welcome-invitation = Invitation to HQ
welcome-reset = New password
welcome-account = Account:
welcome-lead = Set a password (at least 10 characters), then sign in.
welcome-repeat = Password again
welcome-save = Save password
welcome-error-mismatch = The passwords do not match.

account-title = Account
account-admin-token = Administrator (token)
account-sessions = Open sessions
account-no-sessions = No sessions.
account-col-session = Session
account-col-opened = Opened
account-col-until = Until
account-end-session = End
secret-copy-now = Copy it now — it will not be shown again
secret-valid-until = Valid until { $until }.

back-to-setup = Back to setup
back-to-store = Back to the store
back-to-customers = Back to customers
back-to-people = Back to people
secret-enrollment-title = Register enrollment token
secret-enrollment-text = A one-time token for a new register of the store “{ $store }”. It is shown once: run pos-agent enroll with this token at the register.
secret-link-qr = QR code of the personal link
secret-link-title = Customer's personal link
secret-link-text = The link to the personal page of the customer “{ $name }” (no. { $id }). It is shown once; the previous link no longer works. The customer can open it by scanning the QR code with the phone's camera.
secret-api-key-title = API key
secret-api-key-text = The key “{ $name }” with the role “{ $role }”: send it in the Authorization: Bearer header. Only its hash is kept.
