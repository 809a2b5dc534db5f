# Every page: the frame, the language switch, error pages, labels of
# statistics shared by several pages.

skip-to-content = Перейти к содержимому
lang-switch-label = Язык

error-too-many-title = Слишком много попыток
error-too-many-text = С этого адреса было слишком много попыток. Подождите и попробуйте снова.
error-not-found-title = Страница не найдена
error-not-found-text = Такой страницы нет. Проверьте ссылку.
error-forbidden-title = Форма отклонена
error-forbidden-text = Форма устарела или отправлена с другого сайта. Обновите страницу и попробуйте ещё раз.
error-not-permitted-title = Недостаточно прав
error-not-permitted-text = Эта страница или действие вам недоступны. Обратитесь к владельцу.
error-bad-request-title = Неверный запрос
error-bad-request-text = Запрос не удалось прочитать.
error-internal-title = Что-то пошло не так
error-internal-text = Ошибка на сервере. Попробуйте позже.

gender-female = Женщины
gender-male = Мужчины
gender-unknown = Не указан
age-under-25 = до 25
age-unknown = возраст не указан

promotion-status-planned = запланирована
promotion-status-over = завершена
promotion-status-running = идёт
period-open = бессрочно
period-from = с { $from }
period-until = до { $until }
period-between = с { $from } по { $until }
discount-special-price = цена { $price }
discount-nth-item = каждый { $n }-й −{ $percent }
discount-bundle = комплект за { $price }
discount-more-points = больше баллов
discount-extra-points = +{ $points } баллов
