# HQ: the header, signing in, merchants, accounts, secrets shown once.

hq-brand = HQ · Лояльность
hq-sections = Разделы
hq-all-merchants = Все продавцы
hq-sign-out = Выйти
nav-stats = Статистика
nav-analytics = Аналитика
nav-setup = Настройка
nav-campaigns = Рассылки
nav-customers = Поддержка
nav-people = Сотрудники
nav-audit = Журнал
nav-reviews = Отзывы
nav-referrals = Приглашения
nav-store = Магазин №{ $store }

role-owner = Владелец
role-marketer = Маркетолог
role-analyst = Аналитик
role-store-manager = Управляющий магазином
role-support = Поддержка

login-title = Вход
login-heading = Вход в HQ
login-email = Электронная почта
login-password = Пароль
login-token = Или токен администратора
login-submit = Войти
login-error-missing = Укажите адрес и пароль.
login-error-wrong = Неверный адрес или пароль.
login-code = Код из приложения (если включён вход с кодом)
login-error-code-needed = Для этой учётной записи включён вход с кодом: введите код из приложения.
login-error-code = Код неверен или уже использован.
login-error-token = Неверный токен администратора.

merchants-title = Продавцы
merchants-none = Продавцов пока нет.
merchants-new = Новый продавец
merchants-currency-iso = Валюта (ISO 4217)
merchants-create = Создать
merchant-error-name = Укажите название.
merchant-error-currency = Валюта — три латинские буквы, например RUB.
col-number = №
col-name = Название
col-currency = Валюта
col-pages = Страницы

welcome-invitation = Приглашение в HQ
welcome-reset = Новый пароль
welcome-account = Учётная запись:
welcome-lead = Задайте пароль (не короче 10 символов), затем войдите.
welcome-repeat = Пароль ещё раз
welcome-save = Сохранить пароль
welcome-error-mismatch = Пароли не совпадают.

account-title = Учётная запись
account-admin-token = Администратор (токен)
account-sessions = Открытые сеансы
account-no-sessions = Сеансов нет.
account-col-session = Сеанс
account-col-opened = Открыт
account-col-until = До
account-end-session = Завершить

secret-copy-now = Скопируйте сейчас — больше он показан не будет
secret-valid-until = Действует до { $until }.

back-to-setup = Вернуться к настройке
back-to-store = Вернуться к магазину
back-to-customers = Вернуться к покупателям
back-to-people = Вернуться к сотрудникам
secret-enrollment-title = Токен регистрации кассы
secret-enrollment-text = Одноразовый токен для новой кассы магазина «{ $store }». Он показан один раз: на кассе выполните pos-agent enroll с этим токеном.
secret-link-qr = QR-код персональной ссылки
secret-link-title = Персональная ссылка покупателя
secret-link-text = Ссылка на личную страницу покупателя «{ $name }» (№ { $id }). Она показана один раз; прежняя ссылка больше не работает. Покупатель может открыть её, отсканировав QR-код камерой телефона.
secret-api-key-title = Ключ API
secret-api-key-text = Ключ «{ $name }» с ролью «{ $role }»: передавайте его в заголовке Authorization: Bearer. Хранится только его хеш.
account-totp = Вход с кодом из приложения
account-totp-off = Выключен: для входа нужен только пароль.
account-totp-on = Включён: для входа нужны пароль и код из приложения.
account-totp-enable = Включить
account-totp-scan = Отсканируйте QR-код приложением-аутентификатором (Яндекс Ключ, Google Authenticator и другие) или введите ключ вручную, затем введите код из приложения.
account-totp-qr = QR-код ключа для приложения-аутентификатора
account-totp-secret = Ключ:
account-totp-code = Код из приложения
account-totp-confirm = Подтвердить и включить
account-totp-disable = Выключить
account-totp-error-code = Код неверен или уже использован. Введите текущий код из приложения.
account-totp-error-state = Вход с кодом уже включён.
account-language = Язык
account-language-pages = Язык страниц
account-language-browser = Как в браузере
account-language-save = Сохранить
